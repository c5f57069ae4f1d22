import type { Doc, Projection } from '@opal/event-sourcing';
import type { InferenceEvent } from '../domain/inference.events.js';
import { inferenceCodec } from './models.projection.js';

/**
 * Prepaid balance in token base units (decimal strings): credits less the fees charged as holds
 * were settled; `held`: the worst-case fees of requests whose holds are not settled yet (so
 * balance - held is what the write model lets a new request hold).
 */
export type TenantDoc = { tenantId: string; credited: string; spent: string; balance: string; inferences: number; held: string; holding: boolean };
/** An API key's tenant: the earliest TenantCreated with that key (its time, then its event id). */
export type ApiKeyDoc = { apiKeyHash: string; tenantId: string; createdAt: number; createdBy: string };

const TENANTS = 'inference_tenants';
const KEYS = 'inference_api_keys';

function tenantOf(doc: Doc | undefined, tenantId: string): TenantDoc {
  const t = (doc as TenantDoc | undefined) ?? { tenantId, credited: '0', spent: '0', balance: '0', inferences: 0, held: '0', holding: false };
  return t.held === undefined ? { ...t, held: '0', holding: false } : t;
}

/**
 * Tenants, their balances and API key hashes. Deposits observed on-chain will credit through the
 * same TenantCredited event once settlement exists.
 */
export const tenantsProjection: Projection<InferenceEvent> = {
  name: 'inference.tenants',
  // 2: an API key keeps its earliest tenant (it was the last applied); fees leave the balance with
  // HoldSettled, not InferenceCompleted (which also left the hold counted until it was settled).
  version: 2,
  codec: inferenceCodec,
  // `holding`: tenants with open holds, which the sweeper of expired holds looks at.
  collections: [{ name: TENANTS, indexes: ['holding'] }, { name: KEYS, indexes: [] }],
  route(e) {
    switch (e.type) {
      case 'TenantCreated':
        return [{ collection: TENANTS, id: e.data.tenant }, { collection: KEYS, id: e.data.apiKeyHash }];
      case 'TenantCredited':
      case 'InferenceCompleted':
      case 'BalanceHeld':
      case 'HoldSettled':
        return [{ collection: TENANTS, id: e.data.tenant }];
      default:
        return [];
    }
  },
  evolve(ref, doc, e): Doc | undefined {
    if (ref.collection === KEYS) {
      if (e.type !== 'TenantCreated') return undefined;
      const claim = { apiKeyHash: e.data.apiKeyHash, tenantId: e.data.tenant, createdAt: e.meta.occurredAt, createdBy: e.meta.eventId } satisfies ApiKeyDoc;
      // Two tenants created with one key at once (each create checks the keys read model, which
      // neither has reached yet): the earlier keeps it, in whatever order the two are applied (they
      // are on different streams, so partitions), so a replay and every replica agree.
      const held = doc as ApiKeyDoc | undefined;
      return held && held.createdBy !== claim.createdBy && !earlier(claim, held) ? held : claim;
    }
    const t = tenantOf(doc, ref.id);
    if (e.type === 'TenantCreated') return doc ?? t;
    if (e.type === 'TenantCredited') {
      const credited = BigInt(t.credited) + BigInt(e.data.amount);
      return { ...t, credited: credited.toString(), balance: (credited - BigInt(t.spent)).toString() } satisfies TenantDoc;
    }
    if (e.type === 'BalanceHeld') {
      const held = BigInt(t.held) + BigInt(e.data.amount);
      return { ...t, held: held.toString(), holding: held !== 0n } satisfies TenantDoc;
    }
    if (e.type === 'HoldSettled') {
      // The fee leaves the balance as its hold is settled, in the same event: an InferenceCompleted
      // not settled yet (its replica killed in between: until the hold expires) is still held, and
      // counted once, as the write model counts it.
      const held = BigInt(t.held) - BigInt(e.data.amount);
      const spent = BigInt(t.spent) + BigInt(e.data.charged);
      return { ...t, held: held.toString(), holding: held !== 0n, spent: spent.toString(), balance: (BigInt(t.credited) - spent).toString() } satisfies TenantDoc;
    }
    if (e.type === 'InferenceCompleted') return { ...t, inferences: t.inferences + 1 } satisfies TenantDoc;
    return undefined;
  },
};

/** Whether claim `a` came before `b`: by time, then by event id. */
function earlier(a: { createdAt: number; createdBy: string }, b: { createdAt: number; createdBy: string }): boolean {
  return a.createdAt !== b.createdAt ? a.createdAt < b.createdAt : a.createdBy < b.createdBy;
}
