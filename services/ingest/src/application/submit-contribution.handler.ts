import { Inject, Injectable } from '@nestjs/common';
import { retryOnConflict } from '@opal/event-sourcing';
import { CLOCK, type Clock } from '@opal/service-runtime';
import { decideSubmit, type SubmissionOutcome, type SubmitContribution } from '../domain/datanet.decider.js';
import type { DatanetState } from '../domain/datanet.state.js';
import { datanetStream } from '../domain/ingest.events.js';
import { IngestError } from '../domain/ingest.errors.js';
import { contributionIdOf } from '../domain/identifiers.js';
import { DatanetRepository } from './datanet.repository.js';
import { normalizeAddress } from './create-datanet.handler.js';
import { CONTENT_INSPECTOR, CONTENT_STORE, SCHEMA_VALIDATOR, type CompiledSchema, type ContentInspector, type ContentStore, type SchemaValidator } from './ingest.ports.js';

export type SubmitContributionInput = {
  datanetId: string;
  content: Uint8Array;
  contributor: string;
  nonce: string;
  signature: Uint8Array;
};

export type SubmissionResult = SubmissionOutcome & { contentHash: string };

export type PreparedSubmission = { readonly stream: string; readonly cmd: SubmitContribution };

const MAX_NONCE = (1n << 64n) - 1n;

/**
 * Checks a signed contribution and records the outcome. Signature and replay problems are the
 * caller's errors and leave nothing behind; every content problem becomes a ContributionRejected
 * with its reason. The content is stored before the events are appended, so an acknowledged
 * contribution always has its bytes.
 */
@Injectable()
export class SubmitContributionHandler {
  private readonly schemas = new Map<string, CompiledSchema>();

  constructor(
    private readonly datanets: DatanetRepository,
    @Inject(CONTENT_INSPECTOR) private readonly inspector: ContentInspector,
    @Inject(CONTENT_STORE) private readonly content: ContentStore,
    @Inject(SCHEMA_VALIDATOR) private readonly schemaValidator: SchemaValidator,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async execute(input: SubmitContributionInput): Promise<SubmissionResult> {
    return this.decideDurably(await this.prepare(input));
  }

  /**
   * decide() until the events are durable. Another replica may have moved the Datanet on since this
   * one cached it; the log then refuses the append and the submission is decided again, until
   * `until` (ms since the epoch) or retryOnConflict's own bound.
   */
  decideDurably(prepared: PreparedSubmission, until?: number): Promise<SubmissionResult> {
    return retryOnConflict(async () => (await this.decide(prepared)).durable, until);
  }

  /**
   * Everything that needs no ordering: field checks, signature recovery, content checks, storing
   * the bytes. Items of one client stream are prepared concurrently and then decided in order.
   */
  async prepare(input: SubmitContributionInput): Promise<PreparedSubmission> {
    if (!input.datanetId) throw new IngestError('INVALID_FIELD', 'datanet_id: required');
    const contributor = normalizeAddress('contributor', input.contributor);
    if (!/^\d{1,20}$/.test(input.nonce) || BigInt(input.nonce) > MAX_NONCE) {
      throw new IngestError('INVALID_FIELD', `nonce: must be an unsigned 64-bit integer, got ${JSON.stringify(input.nonce)}`);
    }
    const nonce = BigInt(input.nonce);
    if (input.signature.length !== 65) {
      throw new IngestError('INVALID_FIELD', `signature: must be 65 bytes (r, s, v), got ${input.signature.length}`);
    }
    const stream = datanetStream(input.datanetId);
    const { state } = await this.datanets.peek(stream);
    if (!state.created) throw new IngestError('DATANET_NOT_FOUND', `datanet_id: no Datanet ${input.datanetId}`);

    const inspection = await this.inspector.inspect({
      datanetId: input.datanetId,
      content: input.content,
      nonce,
      signature: input.signature,
      maxBytes: state.policy.maxItemBytes,
      wantText: state.dataKind === 'jsonl',
    });
    const contentHash = inspection.contentHash;
    if (inspection.signer !== contributor.toLowerCase()) {
      throw new IngestError('BAD_SIGNATURE', `signature: not signed by contributor ${contributor} over (datanet_id, content hash, nonce)`);
    }
    const contributionId = contributionIdOf(input.datanetId, contributor, nonce);
    const cmd: SubmitContribution = {
      contributionId,
      contributor,
      nonce,
      signature: input.signature,
      contentHash,
      sizeBytes: input.content.length,
      contentProblem: undefined,
      minhash: undefined,
    };
    if (inspection.utf8 === false) cmd.contentProblem = { reason: 'INVALID_UTF8', detail: 'content is not valid UTF-8' };
    else if (inspection.utf8 === true) {
      const schemaProblem = state.dataKind === 'jsonl' ? this.checkJsonLines(state, inspection.text ?? '') : undefined;
      if (schemaProblem) cmd.contentProblem = { reason: 'SCHEMA_MISMATCH', detail: schemaProblem };
      else cmd.minhash = inspection.minhash;
    }
    // Store the bytes first unless they are certainly not kept (a problem, a known hash, a replay).
    const kept = inspection.utf8 === true && !cmd.contentProblem && !state.byHash.has(contentHash) && !state.contributions.has(contributionId);
    if (kept) await this.content.put(contentHash, input.content);
    return { stream, cmd };
  }

  /**
   * Decides on the Datanet's current state and queues the events; resolves once the decision is
   * taken, with `durable` resolving to the result once the events are on disk.
   */
  async decide(prepared: PreparedSubmission): Promise<{ durable: Promise<SubmissionResult> }> {
    const { stream, cmd } = prepared;
    // One reading of the clock: the day the submission is recorded in (the events' time) is the day
    // whose quota it is checked against, however long the decision waits for its turn.
    const now = this.clock.now();
    const { result, durable } = await this.datanets.decide(stream, { now, commandId: `submit:${cmd.contributionId}` }, (s) => {
      const d = decideSubmit(s, cmd, now);
      return { events: d.events, result: d.outcome };
    });
    return {
      durable: durable.then(() => {
        // A retry after a lost answer lands here: the contribution the nonce made is named, so the
        // caller can look it up (GetContribution) rather than count it lost.
        if (result.reason === 'NONCE_REPLAYED') throw new IngestError('NONCE_REPLAYED', `nonce: ${result.detail}`, { contributionId: result.contributionId, contentHash: cmd.contentHash });
        return { ...result, contentHash: cmd.contentHash };
      }),
    };
  }

  private checkJsonLines(state: DatanetState, text: string): string | undefined {
    let schema = this.schemas.get(state.datanetId);
    if (!schema) this.schemas.set(state.datanetId, (schema = this.schemaValidator.compile(state.jsonSchema)));
    const lines = text.split('\n');
    let records = 0;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (!line) continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        return `line ${i + 1}: not valid JSON`;
      }
      const error = schema.validate(value);
      if (error) return `line ${i + 1}: ${error}`;
      records++;
    }
    return records === 0 ? 'no JSON records' : undefined;
  }
}
