import { KafkaEventLog } from '@opal/event-log-kafka';
import { projectionSubscription } from '@opal/event-sourcing';
import { MongoDocumentStore, type StoredVersion } from '@opal/document-store-mongo';
import type { OpalConfig } from '@opal/service-runtime';
import { isKafka, kafkaOptions, openMongoClient } from './backends.js';
import { services } from './service-registry.js';

type Row = {
  readonly projection: string;
  readonly service: string;
  readonly version: number;
  /** This build's version of the projection. */
  readonly current: boolean;
  readonly collections: StoredVersion['collections'];
  readonly applied: number | undefined;
  /**
   * Records of its topics past its stored cursor (Kafka only): how far this database's read model is
   * behind the log, whatever its consumer group committed (a new or restored database catching up).
   */
  readonly behind: number | undefined;
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
  const client = await openMongoClient(config);
  const store = await MongoDocumentStore.connect({ url: config.store, client });
  const log = isKafka(config) ? await KafkaEventLog.connect(kafkaOptions(config)).catch(async (error: unknown) => {
    await client.close();
    throw error;
  }) : undefined;
  try {
    const known = Object.entries(services).flatMap(([service, { projections }]) =>
      projections.map((p) => ({ service, name: p.name, current: p.version ?? 1, collections: p.collections.map((c) => c.name), streams: p.codec.streams })),
    );
    const stored = await store.storedVersions(known);
    const found = known.flatMap((p) => (stored.get(p.name) ?? []).map((v) => ({ p, v, subscription: projectionSubscription(p.name, v.version) })));
    const groups = await log?.subscribers(found.map((f) => f.subscription));
    // Projections of one service read the same topics: their ends are asked for once.
    const endsByStreams = new Map<string, Promise<Readonly<Record<string, number>>>>();
    const endsOf = (streams: readonly string[] | undefined) => {
      const key = streams?.join('\n') ?? '*';
      let ends = endsByStreams.get(key);
      if (!ends) endsByStreams.set(key, (ends = log!.endsOf(streams)));
      return ends;
    };
    const ends = log && new Map(await Promise.all(known.map(async (p) => [p.name, await endsOf(p.streams)] as const)));
    const rows: (Row & { readonly collectionNames: readonly string[] })[] = found.map(({ p, v, subscription }) => ({
      projection: p.name,
      service: p.service,
      version: v.version,
      collections: v.collections,
      applied: v.applied,
      behind: ends && behind(ends.get(p.name)!, v.cursor),
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
    await client.close();
  }
}

/** Records past the cursor in every partition the log has now (a partition the cursor lacks: all of it). */
function behind(ends: Readonly<Record<string, number>>, cursor: Readonly<Record<string, number>>): number {
  let n = 0;
  for (const [key, end] of Object.entries(ends)) n += Math.max(0, end - (cursor[key] ?? 0));
  return n;
}

function line(r: Row): string {
  const docs = r.collections.map((c) => `${c.stored} ${c.documents}`).join(', ') || 'no collections';
  const applied = (r.applied === undefined ? 'no checkpoint' : `applied ${r.applied}`) + (r.behind === undefined ? '' : `, ${r.behind} record(s) behind`);
  const processes = r.processes === undefined ? '' : `, ${r.processes} process(es)`;
  const state = r.current ? 'this build' : 'other';
  return `${r.projection.padEnd(28)} v${r.version} ${state.padEnd(10)} ${applied}${processes}; ${docs}${r.outcome ? `  [${r.outcome}]` : ''}`;
}
