import { join } from 'node:path';
import { IndexDirectoryStore, StoredContributionContent, verifyReceipt } from '@opal/attribution';
import { MongoContentStore } from '@opal/document-store-mongo';
import type { OpalConfig } from '@opal/service-runtime';
import { isMongo, openEventLog, openMongoClient } from './backends.js';

/**
 * `opal attribution verify <inference-id>`: recomputes the receipt from the log (the embedded one
 * read only, so it runs beside a live node; or Kafka) and the index files, and prints match or
 * mismatch. Exit 0 on a match, 1 on a mismatch or a missing receipt. Scaled out, an index missing
 * from this machine's data folder is built there first, from the manifest in the log and the
 * contribution content in MongoDB.
 */
export async function attributionVerify(config: OpalConfig, inferenceId: string, json: boolean, out: (s: string) => void): Promise<number> {
  const log = await openEventLog(config, true);
  const client = isMongo(config) ? await openMongoClient(config).catch(async (error: unknown) => {
    await log.close();
    throw error;
  }) : undefined;
  const contentStore = client && (await MongoContentStore.connect({ url: config.store, client }));
  try {
    const content = contentStore && new StoredContributionContent(contentStore);
    const r = await verifyReceipt(log, new IndexDirectoryStore(join(config.dataDir, 'indexes')), inferenceId, content);
    if (json) {
      out(JSON.stringify(r.status === 'not-found' ? r : { status: r.status, differences: r.differences, indexHashes: r.logged.indexHashes }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) + '\n');
    } else if (r.status === 'not-found') {
      out(`not found: ${r.detail}\n`);
    } else if (r.status === 'match') {
      const l = r.logged;
      out(`match: receipt of ${inferenceId} recomputes exactly (${l.spans.length} spans, ${l.weights.length} contributors, method ${l.methodVersion}, indexes ${l.datanetVersions.join(', ') || 'none'})\n`);
    } else {
      out(`MISMATCH: receipt of ${inferenceId} differs from its recomputation in: ${r.differences.join(', ')}\n`);
      for (const f of r.differences) {
        const show = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));
        out(`  ${f}: logged ${show(r.logged[f as keyof typeof r.logged])}\n  ${' '.repeat(f.length)}  recomputed ${show(r.recomputed[f as keyof typeof r.recomputed])}\n`);
      }
    }
    return r.status === 'match' ? 0 : 1;
  } finally {
    await contentStore?.close();
    await client?.close();
    await log.close();
  }
}
