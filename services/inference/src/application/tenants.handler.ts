import { Inject, Injectable, Optional } from '@nestjs/common';
import type { Logger } from 'pino';
import { EVENT_LOG, type EventLog } from '@opal/event-log';
import { AggregateCache, SNAPSHOT_STORE, type SnapshotStore } from '@opal/event-sourcing';
import { CLOCK, LOGGER, METRICS, type Clock, type ProcessMetrics } from '@opal/service-runtime';
import { tenantStream, type InferenceEvent } from '../domain/inference.events.js';
import { InferenceServiceError } from '../domain/inference.errors.js';
import { parseAmount } from '../domain/pricing.js';
import { decideCreateTenant, decideCreditTenant, evolveTenant, initialTenant, tenantWeight, type TenantState } from '../domain/tenant.decider.js';
import { INFERENCE_CONFIG, type InferenceConfig } from '../inference.config.js';
import { tenantSnapshot } from '../domain/tenant.snapshot.js';
import { inferenceCodec } from '../projections/models.projection.js';
import { KEY_HASHER, type KeyHasher } from './inference.ports.js';
import { TenantLedger } from './tenant-ledger.js';

const ID = /^[a-z0-9][a-z0-9._-]{1,62}$/;

/**
 * Tenants' write models, cached in memory and loaded from their snapshots and streams. Past the
 * process's budget (OPAL_INFERENCE_TENANT_CACHE_MB) the least recently used are dropped and loaded
 * again when next used.
 */
@Injectable()
export class TenantRepository extends AggregateCache<TenantState, InferenceEvent> {
  constructor(
    @Inject(EVENT_LOG) log: EventLog,
    @Optional() @Inject(SNAPSHOT_STORE) snapshots?: SnapshotStore,
    @Optional() @Inject(LOGGER) logger?: Logger,
    @Optional() @Inject(INFERENCE_CONFIG) config?: Pick<InferenceConfig, 'tenantCacheBytes'>,
    @Optional() @Inject(METRICS) metrics?: ProcessMetrics,
  ) {
    super(log, { codec: inferenceCodec, initial: initialTenant, evolve: evolveTenant, snapshot: tenantSnapshot, weight: tenantWeight }, 'inference', {
      snapshots,
      onSnapshotError: (err, streamId) => logger?.warn({ err, streamId }, 'tenant snapshot unusable; loading the whole stream'),
      memoryBudgetBytes: config?.tenantCacheBytes,
      onDropped: () => metrics?.aggregateDropped('tenants'),
    });
    metrics?.watchAggregateCache('tenants', () => this.cachedWeight);
  }
}

/** Admin commands: create a tenant with a hashed API key, credit its prepaid balance. */
@Injectable()
export class TenantsHandler {
  constructor(
    private readonly tenants: TenantRepository,
    @Inject(KEY_HASHER) private readonly keys: KeyHasher,
    @Inject(CLOCK) private readonly clock: Clock,
    /** Where API keys in use are looked up (absent: not checked). */
    @Optional() private readonly ledger?: TenantLedger,
  ) {}

  async create(input: { tenantId: string; apiKey: string }): Promise<{ tenantId: string; apiKey: string }> {
    if (!ID.test(input.tenantId)) throw new InferenceServiceError('INVALID_FIELD', 'tenant_id: 2-63 lowercase letters, digits, dots, dashes or underscores');
    if (input.apiKey && input.apiKey.length < 16) throw new InferenceServiceError('INVALID_FIELD', 'api_key: at least 16 characters');
    // Sent as `authorization: Bearer <key>`: gRPC metadata and HTTP headers carry printable ASCII only.
    if (input.apiKey && !/^[\x21-\x7e]+$/.test(input.apiKey)) throw new InferenceServiceError('INVALID_FIELD', 'api_key: printable ASCII characters only, no spaces (it is sent in a header)');
    const apiKey = input.apiKey || this.keys.newKey();
    const cmd = { tenant: input.tenantId, apiKeyHash: this.keys.hash(apiKey) };
    // A key another tenant has would be theirs or this one's depending on the order the two are
    // read: refused. (Two creates with one key at the same moment can both pass this; the keys read
    // model then gives the key to the earlier, the same in every replica and replay.)
    const holder = input.apiKey ? await this.ledger?.tenantOfKeyHash(cmd.apiKeyHash) : undefined;
    if (holder !== undefined && holder !== input.tenantId) throw new InferenceServiceError('API_KEY_TAKEN', 'api_key: already the key of another tenant; choose another, or leave it empty for a new one');
    await this.tenants.execute(tenantStream(input.tenantId), { now: this.clock.now() }, (s) => ({ events: decideCreateTenant(s, cmd), result: undefined }));
    return { tenantId: input.tenantId, apiKey };
  }

  async credit(input: { tenantId: string; amount: string; reference: string }): Promise<{ tenantId: string; credited: boolean }> {
    const amount = parseAmount(input.amount);
    if (amount === undefined) throw new InferenceServiceError('INVALID_FIELD', `amount: ${JSON.stringify(input.amount)} is not a decimal number of base units`);
    if (!input.reference) throw new InferenceServiceError('INVALID_FIELD', 'reference: required (the same reference credits once)');
    const cmd = { tenant: input.tenantId, amount, reference: input.reference };
    const { stored } = await this.tenants.execute(tenantStream(input.tenantId), { now: this.clock.now(), commandId: `credit:${input.tenantId}:${input.reference}` }, (s) => ({
      events: decideCreditTenant(s, cmd),
      result: undefined,
    }));
    return { tenantId: input.tenantId, credited: stored.length > 0 };
  }
}
