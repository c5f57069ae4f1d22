import type { ServerReadableStream, sendUnaryData } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { EventLogError } from '@opal/event-log';
import { infrastructureStatus } from '@opal/service-runtime';
import type * as api from '@opal/contracts/opal/ingest/v1/ingest.api';
import { IngestError } from '../../domain/ingest.errors.js';
import type { SubmitContributionHandler } from '../../application/submit-contribution.handler.js';
import { ingestErrorMapper } from './ingest-error.mapper.js';
import { submissionResponse, submitInput } from './ingest.mapping.js';

const MAX_IN_FLIGHT = 256;

/**
 * A client-streamed batch: items are processed as they arrive, up to MAX_IN_FLIGHT at once (the
 * call is paused beyond that, so a fast client cannot exhaust memory), and answered in order,
 * one result per item. A per-item problem is that item's result; the batch goes on.
 */
export function handleSubmissionStream(
  call: ServerReadableStream<api.SubmitContributionRequest, api.SubmitContributionsResponse>,
  callback: sendUnaryData<api.SubmitContributionsResponse>,
  handler: SubmitContributionHandler,
  logger: Logger,
): Promise<void> {
  const results: api.SubmitContributionResponse[] = [];
  const inFlight = new Set<Promise<void>>();
  // Items are prepared concurrently but decided strictly in arrival order, so a near duplicate
  // is always judged against the items sent before it.
  let decided: Promise<unknown> = Promise.resolve();
  let paused = false;
  return new Promise<void>((resolve) => {
    call.on('data', (request: api.SubmitContributionRequest) => {
      const index = results.length;
      results.push(undefined as never);
      const prepared = handler.prepare(submitInput(request));
      prepared.catch(() => undefined); // handled below, in order; not an unhandled rejection meanwhile
      const decision = decided.then(() => prepared).then((x) => handler.decide(x));
      decided = decision.catch(() => undefined);
      const p = decision
        .then((d) => d.durable)
        // Another replica appended to the Datanet since: this item (and the items decided after it
        // on the same state) are decided again, each once its own append was refused.
        .catch((error: unknown) => (isConflict(error) ? prepared.then((x) => handler.decideDurably(x)) : Promise.reject(error)))
        .then(
          (r) => void (results[index] = submissionResponse(r)),
          (error: unknown) => void (results[index] = failureResponse(error, logger)),
        )
        .finally(() => {
          inFlight.delete(p);
          if (paused && inFlight.size < MAX_IN_FLIGHT / 2) {
            paused = false;
            call.resume();
          }
        });
      inFlight.add(p);
      if (!paused && inFlight.size >= MAX_IN_FLIGHT) {
        paused = true;
        call.pause();
      }
    });
    call.on('end', () => {
      void Promise.all(inFlight).then(() => {
        const count = (s: string) => results.filter((r) => r.status === s).length;
        callback(null, { results, accepted: count('ACCEPTED'), rejected: count('REJECTED'), pendingReview: count('PENDING_REVIEW') });
        resolve();
      });
    });
    call.on('error', () => resolve());
  });
}

const isConflict = (e: unknown) => e instanceof EventLogError && e.code === 'VERSION_CONFLICT';

function failureResponse(error: unknown, logger: Logger): api.SubmitContributionResponse {
  if (error instanceof IngestError) {
    return { contributionId: '', status: 'REJECTED', reason: error.code, detail: ingestErrorMapper.toRpc(error as never).message, duplicateOf: '', contentHash: '' };
  }
  // A log refusal that outlasted the retries (the Datanet kept changing under other replicas), or
  // the log or the content store away: the caller's to retry, with the status a unary submission gets.
  const known = infrastructureStatus(error);
  if (known) {
    logger.warn({ err: error }, 'submission refused for now');
    return { contributionId: '', status: 'REJECTED', reason: known.code, detail: known.message, duplicateOf: '', contentHash: '' };
  }
  logger.error({ err: error }, 'submission failed');
  return { contributionId: '', status: 'REJECTED', reason: 'INTERNAL', detail: 'internal error; see the service log', duplicateOf: '', contentHash: '' };
}
