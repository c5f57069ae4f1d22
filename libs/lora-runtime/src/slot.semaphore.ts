/** A counting semaphore whose waiters give up on abort or deadline. */
export class SlotSemaphore {
  private waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  constructor(private free: number) {}

  get available(): number {
    return this.free;
  }
  get waiting(): number {
    return this.waiters.length;
  }

  /** Resolves true with a slot held, or false when the signal fired first. */
  acquire(signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false);
    if (this.free > 0) {
      this.free--;
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve) => {
      const w = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(true);
        },
        reject: () => resolve(false),
      };
      const onAbort = () => {
        this.waiters = this.waiters.filter((x) => x !== w);
        resolve(false);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(w);
    });
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next.resolve();
    else this.free++;
  }
}
