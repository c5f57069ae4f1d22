import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Metadata } from '@grpc/grpc-js';
import { firstValueFrom, toArray } from 'rxjs';
import type { GenerateOutput } from '../../application/generate.handler.js';
import { InferenceController } from './inference.controller.js';

/** A server call as grpc-js has it: cancelled (a deadline passed, the client gone) or not. */
function serverCall(cancelled: boolean) {
  return Object.assign(new EventEmitter(), { cancelled, getDeadline: () => Infinity }) as any;
}

/** A generation that, as GenerateHandler's, records its outcome however it ends (here: a flag). */
function generation(onStart: (signal: AbortSignal) => void = () => {}) {
  const ran = { outcome: '' };
  const handler = {
    async start(input: { signal: AbortSignal }): Promise<AsyncIterable<GenerateOutput>> {
      onStart(input.signal);
      return (async function* () {
        try {
          if (input.signal.aborted) return;
          yield { type: 'text', text: 'hello', tokenCount: 1 } as GenerateOutput;
          ran.outcome = 'completed';
        } finally {
          ran.outcome ||= 'cancelled';
        }
      })();
    },
  };
  return { handler, ran };
}

const controller = (handler: object) => new InferenceController({} as any, {} as any, {} as any, {} as any, handler as any, { warn() {} } as any, {} as any);

describe('InferenceController.Generate', () => {
  it('a call cancelled while its hold was being taken still runs its generation to its end, which records the outcome and settles the hold', async () => {
    const call = serverCall(false);
    // The cancel lands while start() waits for the hold; the server then never subscribes.
    const { handler, ran } = generation(() => ((call.cancelled = true), call.emit('cancelled')));
    await controller(handler).generate({ model: 'a', prompt: 'p' } as any, new Metadata(), call);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(ran.outcome, 'cancelled');
  });

  it('a call that is not cancelled gets everything generated, even what came before it subscribed', async () => {
    const { handler, ran } = generation();
    const answers = await controller(handler).generate({ model: 'a', prompt: 'p' } as any, new Metadata(), serverCall(false));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(ran.outcome, 'completed');
    assert.deepEqual(await firstValueFrom(answers.pipe(toArray())), [{ text: 'hello' }]);
  });
});
