import { status, type ServerReadableStream, type sendUnaryData } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { EventLogError } from '@opal/event-log';
import { infrastructureStatus } from '@opal/service-runtime';
import type * as api from '@opal/contracts/opal/ingest/v1/ingest.api';
import { IngestError } from '../../domain/ingest.errors.js';
import type { SubmitContributionHandler } from '../../application/submit-contribution.handler.js';
import { ingestErrorMapper } from './ingest-error.mapper.js';
import type { ForwardedSubmissions } from './ingest-forwarding.js';
import { submissionResponse, submitInput } from './ingest.mapping.js';

const MAX_IN_FLIGHT = 256;

/**
 * How long an item whose append lost its race is decided again, on a call without a deadline. Two
 * replicas streaming into one Datanet without routing: the one that loses a race must read the
 * other's events before it tries again, and may lose until the other's stream ends (one of 600
 * items was answered ABORTED after 3 s of lost races, 98 events behind).
 */
export const STREAM_CONFLICT_RETRY_MS = 30_000;
/** Kept back from a call's deadline, for the answer to reach the caller. */
const ANSWER_MARGIN_MS = 1000;

/**
 * A client-streamed batch: items are processed as they arrive, up to MAX_IN_FLIGHT at once (the
 * call is paused beyond that, so a fast client cannot exhaust memory), and answered in order,
 * one result per item. A per-item problem is that item's result; the batch goes on. Items on a
 * Datanet another process owns go on to it, in one stream per owner, and its results take their
 * places (see IngestForwarding). When a Datanet's owner changes during the call (a replica stopped
 * or started), the streams on are ended and the items after wait until everything before them was
 * decided, wherever it was, and what was decided here is in the log, before they take the new
 * route: the one that owned it no longer decides its later items beside the new owner.
 */
export function handleSubmissionStream(
  call: ServerReadableStream<api.SubmitContributionRequest, api.SubmitContributionsResponse>,
  callback: sendUnaryData<api.SubmitContributionsResponse>,
  handler: SubmitContributionHandler,
  logger: Logger,
  forwarding?: SubmissionForwarding,
): Promise<void> {
  const results: api.SubmitContributionResponse[] = [];
  const inFlight = new Set<Promise<void>>();
  // Per Datanet, while its owner stays: the owner its items go to (undefined: this process) and the
  // stream on to it, or null to decide them here (owned here, or its owner out of reach). Every item
  // of a Datanet goes the same way, so its owner decides them in the order sent.
  const routes = new Map<string, { owner: string | undefined; stream: ForwardedSubmissions | null }>();
  const forwarded: ForwardedSubmissions[] = []; // every stream on, for their answers at the end
  const open: ForwardedSubmissions[] = []; // those still taking items
  const routeOf = (datanetId: string): ForwardedSubmissions | null => {
    let route = routes.get(datanetId);
    if (route === undefined) {
      const owner = forwarding?.ownerOf(datanetId);
      // One stream per owner, whichever of its Datanets the items are for.
      const stream = owner === undefined ? null : (open.find((f) => f.to === owner) ?? forwarding!.open(owner) ?? null);
      if (stream && !open.includes(stream)) {
        open.push(stream);
        forwarded.push(stream);
      }
      routes.set(datanetId, (route = { owner, stream }));
    }
    return route.stream;
  };
  /** Whether the Datanet's owner is another than the one its items went to so far. */
  const moved = (datanetId: string): boolean => {
    const route = routes.get(datanetId);
    if (!forwarding || route === undefined || forwarding.routed?.() === false) return false;
    return route.owner !== forwarding.ownerOf(datanetId);
  };
  // Items are prepared concurrently but decided strictly in arrival order, so a near duplicate
  // is always judged against the items sent before it.
  let decided: Promise<unknown> = Promise.resolve();
  let paused = false;
  let draining = 0; // streams on to owners waiting for room
  // An owner switch under way: the items that came meanwhile, in order, wait for it.
  let switching: Promise<void> | undefined;
  const waiting: { request: api.SubmitContributionRequest; index: number }[] = [];
  const pause = () => {
    if (paused) return;
    paused = true;
    call.pause();
  };
  const resumeIfRoom = () => {
    if (!paused || switching || draining > 0 || inFlight.size >= MAX_IN_FLIGHT / 2) return;
    paused = false;
    call.resume();
  };
  const switchOwners = () => {
    const ended = open.splice(0);
    for (const f of ended) f.end();
    routes.clear();
    pause();
    // What was decided here must be in the log too (not only decided): a new owner deciding the
    // next items meanwhile would judge them without it, and the earlier item then against them.
    const before = [decided, ...inFlight, ...ended.map((f) => f.response)].map((p) => p.then(() => undefined, () => undefined));
    switching = Promise.all(before).then(() => {
      switching = undefined;
      for (const w of waiting.splice(0)) take(w.request, w.index);
      resumeIfRoom();
    });
  };
  const take = (request: api.SubmitContributionRequest, index: number) => {
    const route = routeOf(request.datanetId);
    if (route) {
      route.positions.push(index);
      if (!route.write(request)) {
        // The owner's side is full: read on once it has taken what is buffered.
        draining++;
        pause();
        void route.drained().then(() => {
          draining--;
          resumeIfRoom();
        });
      }
      return;
    }
    const prepared = handler.prepare(submitInput(request));
    prepared.catch(() => undefined); // handled below, in order; not an unhandled rejection meanwhile
    const decision = decided.then(() => prepared).then((x) => handler.decide(x));
    decided = decision.catch(() => undefined);
    const p = decision
      .then((d) => d.durable)
      // Another replica appended to the Datanet since: this item (and the items decided after it
      // on the same state) are decided again, each once its own append was refused.
      .catch((error: unknown) => (isConflict(error) ? prepared.then((x) => handler.decideDurably(x, retryUntil(call))) : Promise.reject(error)))
      .then(
        (r) => void (results[index] = submissionResponse(r)),
        (error: unknown) => void (results[index] = failureResponse(error, logger)),
      )
      .finally(() => {
        inFlight.delete(p);
        resumeIfRoom();
      });
    inFlight.add(p);
    if (inFlight.size >= MAX_IN_FLIGHT) pause();
  };
  return new Promise<void>((resolve) => {
    call.on('data', (request: api.SubmitContributionRequest) => {
      const index = results.length;
      results.push(undefined as never);
      if (!switching && moved(request.datanetId)) switchOwners();
      if (switching) waiting.push({ request, index });
      else take(request, index);
    });
    call.on('end', () => {
      const finish = () => {
        for (const f of open) f.end();
        const answers = forwarded.map((f) =>
          f.response.then(
            (r) => f.positions.forEach((at, i) => (results[at] = r.results[i] ?? lostResponse(f.to))),
            (error: unknown) => {
              const failed = forwardFailure(error, f.to, logger);
              for (const at of f.positions) results[at] = failed;
            },
          ),
        );
        void Promise.all([...inFlight, ...answers]).then(() => {
          const count = (s: string) => results.filter((r) => r.status === s).length;
          callback(null, { results, accepted: count('ACCEPTED'), rejected: count('REJECTED'), pendingReview: count('PENDING_REVIEW') });
          resolve();
        });
      };
      // Items waiting for an owner switch are taken first.
      if (switching) void switching.then(finish);
      else finish();
    });
    call.on('error', () => {
      for (const f of forwarded) f.cancel();
      resolve();
    });
  });
}

/** Where a call's items on a Datanet are decided: by its owner, through a stream opened on first need (see IngestForwarding). */
export type SubmissionForwarding = {
  /** The owner to send this Datanet's items to; undefined to decide them here. */
  ownerOf(datanetId: string): string | undefined;
  /** A stream to that owner; undefined when it cannot be reached now (the items are decided here). */
  open(to: string): ForwardedSubmissions | undefined;
  /**
   * Whether commands go to their owners now. When not (this process is leaving its group), a call
   * keeps the routes it took: the owners it sends items to still own them.
   */
  routed?(): boolean;
};

/** An item whose owner's answer held no result for it. */
function lostResponse(to: string): api.SubmitContributionResponse {
  return { contributionId: '', status: 'REJECTED', reason: 'UNAVAILABLE', detail: `the owner of the Datanet (${to}) answered no result for it; try again`, duplicateOf: '', contentHash: '' };
}

/**
 * Items sent on to an owner whose call failed: each may or may not have been decided there, so each
 * is the caller's to try again (a retried submission that did land is refused as a used nonce).
 */
function forwardFailure(error: unknown, to: string, logger: Logger): api.SubmitContributionResponse {
  const e = (error as { getError?: () => unknown }).getError?.() as { code?: number; message?: string } | undefined;
  logger.warn({ err: error, owner: to }, 'submissions forwarded to the owner of their Datanet failed');
  const reason = e?.code === status.UNAVAILABLE || e?.code === status.DEADLINE_EXCEEDED || e?.code === status.CANCELLED ? 'UNAVAILABLE' : 'INTERNAL';
  return { contributionId: '', status: 'REJECTED', reason, detail: `forwarded to the owner of the Datanet (${to}): ${e?.message ?? 'failed'}`, duplicateOf: '', contentHash: '' };
}

/** Until when an item that lost its race is decided again: the call's deadline, less the answer's margin, or STREAM_CONFLICT_RETRY_MS. */
function retryUntil(call: { getDeadline(): Date | number }): number {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) ? at - ANSWER_MARGIN_MS : Date.now() + STREAM_CONFLICT_RETRY_MS;
}

const isConflict = (e: unknown) => e instanceof EventLogError && e.code === 'VERSION_CONFLICT';

function failureResponse(error: unknown, logger: Logger): api.SubmitContributionResponse {
  if (error instanceof IngestError) {
    const { contributionId = '', contentHash = '' } = error.subject ?? {};
    return { contributionId, status: 'REJECTED', reason: error.code, detail: ingestErrorMapper.toRpc(error as never).message, duplicateOf: '', contentHash };
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
