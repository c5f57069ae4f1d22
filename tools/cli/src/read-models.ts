import { KafkaEventLog } from '@opal/event-log-kafka';
import { projectionSubscription } from '@opal/event-sourcing';
import { MongoDocumentStore, type StoredVersion } from '@opal/document-store-mongo';
import type { OpalConfig } from '@opal/service-runtime';
import { isKafka, kafkaOptions } from './backends.js';
import { services } from './service-registry.js';

type Row = {
  readonly projection: string;
  readonly service: string;
  readonly version: number;
  /** This build's version of the projection. */
  readonly current: boolean;
  readonly collections: StoredVersion['collections'];
  readonly applied: number | undefined;
  /** Processes in its consumer group now (Kafka only). */
  readonly processes: number | undefined;
  /** What prune did with it: dropped, or kept and why. */
  outcome?: string;
};

/**
 * `opal read-models [prune]`: every version of every read model the MongoDB store holds. A rolling
 * upgrade that raised a projection's version leaves the version before in the database (its
 * processes kept serving it meanwhile, and a rollback resumes it); `prune` drops the versions other
 * than this build's, with their consumer groups, except those processes are still in.
 */
export async function readModels(config: OpalConfig, prune: boolean, json: boolean, write: (s: string) => void): Promise<number> {
  const store = await MongoDocumentStore.connect({ url: config.store });
  const log = isKafka(config) ? await KafkaEventLog.connect(kafkaOptions(config)) : undefined;
  try {
    const known = Object.entries(services).flatMap(([service, { projections }]) =>
      projections.map((p) => ({ service, name: p.name, current: p.version ?? 1, collections: p.collections.map((c) => c.name) })),
    );
    const stored = await store.storedVersions(known);
    const found = known.flatMap((p) => (stored.get(p.name) ?? []).map((v) => ({ p, v, subscription: projectionSubscription(p.name, v.version) })));
    const groups = await log?.subscribers(found.map((f) => f.subscription));
    const rows: (Row & { readonly collectionNames: readonly string[] })[] = found.map(({ p, v, subscription }) => ({
      projection: p.name,
      service: p.service,
      ...v,
      current: v.version === p.current,
      processes: groups?.get(subscription),
      collectionNames: p.collections,
    }));
    if (prune) {
      for (const row of rows.filter((r) => !r.current)) {
        if (row.processes) {
          row.outcome = `kept: ${row.processes} process(es) still run it`;
          continue;
        }
        // The group first: should that fail, the documents are still there for its processes.
        await log?.forgetSubscriptions([projectionSubscription(row.projection, row.version)]);
        await store.dropVersion(row.projection, row.collectionNames, row.version);
        row.outcome = 'dropped';
      }
    }
    for (const { collectionNames: _, ...r } of rows) write(json ? `${JSON.stringify(r)}\n` : `${line(r)}\n`);
    if (!json) {
      const others = rows.filter((r) => !r.current);
      const dropped = others.filter((r) => r.outcome === 'dropped').length;
      write(prune ? `${dropped} of ${others.length} other version(s) dropped\n` : `${others.length} version(s) other than this build's; \`opal read-models prune\` drops those no process runs\n`);
    }
    return 0;
  } finally {
    await log?.close();
    await store.close();
  }
}

function line(r: Row): string {
  const docs = r.collections.map((c) => `${c.stored} ${c.documents}`).join(', ') || 'no collections';
  const applied = r.applied === undefined ? 'no checkpoint' : `applied ${r.applied}`;
  const processes = r.processes === undefined ? '' : `, ${r.processes} process(es)`;
  const state = r.current ? 'this build' : 'other';
  return `${r.projection.padEnd(28)} v${r.version} ${state.padEnd(10)} ${applied}${processes}; ${docs}${r.outcome ? `  [${r.outcome}]` : ''}`;
}
