import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Doc, Projection, RecordedEvent } from '@opal/event-sourcing';
import type { InferenceEvent } from '../domain/inference.events.js';
import { modelsProjection } from './models.projection.js';
import { tenantsProjection } from './tenants.projection.js';

// Two claims on one document from two streams (so, on Kafka, two partitions): the document must
// not depend on the order they are applied in, or a replay and the replicas would disagree.

const recorded = (e: object, occurredAt: number, eventId: string, streamId: string) => ({ ...e, meta: { streamId, streamSeq: 1, occurredAt, eventId } }) as RecordedEvent<InferenceEvent>;

/** The documents `events` give, applied in this order. */
function apply(p: Projection<InferenceEvent>, events: readonly RecordedEvent<InferenceEvent>[]): Map<string, Doc> {
  const docs = new Map<string, Doc>();
  for (const e of events) {
    for (const ref of p.route(e)) {
      const key = `${ref.collection}/${ref.id}`;
      const next = p.evolve(ref, docs.get(key), e);
      if (next) docs.set(key, next);
    }
  }
  return docs;
}

describe('read models of claims made from two streams', () => {
  it('an API key given to two tenants stays with the earlier, in either order', () => {
    const alice = recorded({ type: 'TenantCreated', data: { tenant: 'alice', apiKeyHash: 'h1' } }, 1000, 'e-alice', 'tenant-alice');
    const bob = recorded({ type: 'TenantCreated', data: { tenant: 'bob', apiKeyHash: 'h1' } }, 2000, 'e-bob', 'tenant-bob');
    const key = (events: RecordedEvent<InferenceEvent>[]) => apply(tenantsProjection, events).get('inference_api_keys/h1') as { tenantId: string };
    assert.equal(key([alice, bob]).tenantId, 'alice');
    assert.equal(key([bob, alice]).tenantId, 'alice');
    // At the same millisecond: by event id.
    const carol = recorded({ type: 'TenantCreated', data: { tenant: 'carol', apiKeyHash: 'h1' } }, 1000, 'e-0', 'tenant-carol');
    assert.deepEqual([key([alice, carol]).tenantId, key([carol, alice]).tenantId], ['carol', 'carol']);
  });

  it('a base model and an adapter registered with one id: the earlier keeps it, in either order', () => {
    const base = recorded({ type: 'BaseModelRegistered', data: { baseModelId: 'x', kind: 'remote', uri: 'http://m', contentHash: '', contextSize: 4096, remoteName: 'm' } }, 5000, 'e-base', 'base-model-x');
    const adapter = recorded(
      { type: 'AdapterRegistered', data: { adapterId: 'x', baseModelId: 'b', owner: '0x1', datanetVersions: [], uri: 'a', contentHash: '', pricePer1kInput: '1', pricePer1kOutput: '1' } },
      5001, 'e-adapter', 'adapter-x',
    );
    const kind = (events: RecordedEvent<InferenceEvent>[]) => (apply(modelsProjection, events).get('inference_models/x') as { kind: string }).kind;
    assert.deepEqual([kind([base, adapter]), kind([adapter, base])], ['base', 'base']);
    // The same event again (a redelivery) changes nothing.
    assert.equal(kind([adapter, adapter]), 'adapter');
  });
});
