import type { FinishReason, GenerateRequest } from './inference-engine.port.js';

/** One signal for client cancellation and the deadline, and which of them ended the request. */
export function requestSignal(req: Pick<GenerateRequest, 'signal' | 'deadline'>): {
  signal: AbortSignal;
  reason(): Extract<FinishReason, 'cancelled' | 'deadline'> | null;
  /** Ends the request's I/O without recording a reason (the consumer went away). */
  dispose(): void;
} {
  const ctrl = new AbortController();
  let why: 'cancelled' | 'deadline' | null = null;
  const onAbort = () => {
    why ??= 'cancelled';
    ctrl.abort();
  };
  if (req.signal?.aborted) onAbort();
  else req.signal?.addEventListener('abort', onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  if (req.deadline !== undefined && !ctrl.signal.aborted) {
    const ms = req.deadline - Date.now();
    const fire = () => {
      why ??= 'deadline';
      ctrl.abort();
    };
    if (ms <= 0) fire();
    else timer = setTimeout(fire, ms);
  }
  return {
    signal: ctrl.signal,
    reason: () => why,
    dispose() {
      if (timer) clearTimeout(timer);
      ctrl.abort();
      req.signal?.removeEventListener('abort', onAbort);
    },
  };
}
