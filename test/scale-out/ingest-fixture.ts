import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedEventLog, type EventLog, type NewEvent } from '@opal/event-log';
import { combineDigests, loadConfig, projectionDigest, type ProjectionDigest } from '@opal/service-runtime';
import type { DomainEvent, Projection } from '@opal/event-sourcing';
import { MongoDocumentStore } from '@opal/document-store-mongo';
import { replayFromLog } from '@opal/cli';
import { datanetStream, ingestCodec, ingestProjections, type IngestEvent } from '@opal/ingest';

/** One append: a stream and the events that go to it together. */
export type Append = { readonly streamId: string; readonly fromSeq: number; readonly events: NewEvent[] };

/**
 * `total` ingest events as the ingest service would write them: 40 Datanets, each created first,
 * then contributions submitted and accepted (every 7th rejected), from 25 contributors, so the
 * per-contributor counters are touched from every partition. Appends of up to 10 events per stream,
 * interleaved across streams. A `tag` prefixes the Datanet and contribution ids, so tagged sets
 * touch their own Datanets and contributions (the contributors are shared). With `lifecycle`, the
 * rest of a contribution's life too: every 7th refused at submission (a duplicate, with no
 * ContributionSubmitted), every 5th reviewed and approved, every 11th reviewed and declined, and a
 * version published after every 20 contributions of a Datanet (its manifest carried on, so every
 * read model collection holds documents, and one event writes several).
 */
export function ingestAppends(total: number, tag = '', options: { lifecycle?: boolean } = {}): Append[] {
  const datanets = 40;
  const perStream: IngestEvent[][] = Array.from({ length: datanets }, (_, d) => [
    { type: 'DatanetCreated', data: { datanetId: `${tag}fx-${d}`, name: `Fixture ${tag}${d}`, description: '', tags: ['t'], dataKind: 'text', jsonSchema: '', license: 'MIT', owner: '0xowner', policy: { maxItemBytes: 4096, dailyQuota: 0, reviewRequired: false, nearDuplicatePpm: 0, validators: [] } } },
  ]);
  const versions = Array.from({ length: datanets }, () => ({ version: 0, manifest: 0, bytes: 0n, since: [] as { contributionId: string; contentHash: string; contributor: string }[], contributions: 0 }));
  let n = datanets;
  const push = (d: number, ...events: IngestEvent[]) => {
    for (const e of events) {
      if (n >= total) return;
      perStream[d]!.push(e);
      n++;
    }
  };
  for (let i = 0; n < total; i++) {
    const d = i % datanets;
    const datanetId = `${tag}fx-${d}`;
    const contributor = `0xc${String(i % 25).padStart(3, '0')}`;
    const c = { datanetId, contributionId: `${tag}c-${i}`, contributor, contentHash: `h${i}`, sizeBytes: 100 + (i % 900) };
    const submitted: IngestEvent = { type: 'ContributionSubmitted', data: { ...c, nonce: BigInt(i), signature: new Uint8Array(65), minhash: new Uint8Array(8) } };
    const rejected = (reason: string, duplicateOf = ''): IngestEvent => ({ type: 'ContributionRejected', data: { ...c, reason, detail: '', duplicateOf, nonce: BigInt(i) } });
    const reviewed = (approved: boolean): IngestEvent => ({ type: 'ContributionReviewed', data: { datanetId, contributionId: c.contributionId, validator: '0xvalidator', approved, comment: approved ? 'ok' : 'off topic', signature: new Uint8Array(65) } });
    if (!options.lifecycle) {
      push(d, submitted, i % 7 === 0 ? rejected('DUPLICATE', `${tag}c-0`) : { type: 'ContributionAccepted', data: c });
      continue;
    }
    let accepted = true;
    if (i % 7 === 0) {
      push(d, rejected('DUPLICATE', `${tag}c-${Math.max(0, i - 7)}`));
      accepted = false;
    } else if (i % 11 === 0) {
      push(d, submitted, reviewed(false), rejected('REVIEW_DECLINED'));
      accepted = false;
    } else if (i % 5 === 0) push(d, submitted, reviewed(true), { type: 'ContributionAccepted', data: c });
    else push(d, submitted, { type: 'ContributionAccepted', data: c });
    const v = versions[d]!;
    if (accepted) {
      v.since.push({ contributionId: c.contributionId, contentHash: c.contentHash, contributor });
      v.bytes += BigInt(c.sizeBytes);
    }
    if (++v.contributions % 20 === 0 && v.since.length > 0) {
      v.version++;
      push(d, { type: 'DatanetVersionPublished', data: { datanetId, version: v.version, carried: v.manifest, entries: v.since, merkleRoot: `0x${String(v.version).padStart(64, '0')}`, totalBytes: v.bytes } });
      v.manifest += v.since.length;
      v.since = [];
    }
  }
  const appends: Append[] = [];
  for (let at = 0; ; at += 10) {
    let any = false;
    perStream.forEach((events, d) => {
      const chunk = events.slice(at, at + 10);
      if (chunk.length === 0) return;
      any = true;
      appends.push({ streamId: datanetStream(`${tag}fx-${d}`), fromSeq: at + 1, events: chunk.map((e, k) => ingestCodec.encode(e, 1_700_000_000_000 + at + k)) });
    });
    if (!any) return appends;
  }
}

/** Appends in order per stream, up to `parallel` streams at once; `pauseMs` between rounds paces it. */
export async function appendAll(log: EventLog, appends: readonly Append[], options: { parallel?: number; pauseEvery?: number; pauseMs?: number } = {}): Promise<void> {
  const tails = new Map<string, Promise<unknown>>();
  const inFlight = new Set<Promise<unknown>>();
  let sent = 0;
  for (const a of appends) {
    const p = (tails.get(a.streamId) ?? Promise.resolve()).then(() => log.append(a.streamId, a.events, { expectedVersion: a.fromSeq - 1, producer: 'ingest' }));
    tails.set(a.streamId, p);
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p)).catch(() => {});
    if (inFlight.size >= (options.parallel ?? 64)) await Promise.race(inFlight);
    sent += a.events.length;
    if (options.pauseEvery && sent % options.pauseEvery < a.events.length) await new Promise((r) => setTimeout(r, options.pauseMs ?? 50));
  }
  await Promise.all(tails.values());
}

/** The reference: one clean pass over the same events on the embedded log and MemoryDocumentStore. */
export async function cleanDigests(appends: readonly Append[]): Promise<ProjectionDigest[]> {
  const dir = mkdtempSync(join(tmpdir(), 'opal-clean-'));
  try {
    const log = await EmbeddedEventLog.open(join(dir, 'log'), { fsync: false });
    await appendAll(log, appends);
    await log.close();
    const r = await replayFromLog(loadConfig({ OPAL_DATA_DIR: dir }), { only: ['ingest'] });
    return r.projections;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The ingest read models' digests as they stand in MongoDB. */
export async function mongoDigests(url: string): Promise<ProjectionDigest[]> {
  const store = await MongoDocumentStore.connect({ url });
  try {
    const out: ProjectionDigest[] = [];
    for (const p of ingestProjections) out.push(await projectionDigest(store, 'ingest', p as unknown as Projection<DomainEvent>, 0));
    return out;
  } finally {
    await store.close();
  }
}

/** Digest and documents per projection, comparable across stores (applied counts differ by design). */
export const comparable = (ds: readonly ProjectionDigest[]) => ({ digest: combineDigests(ds), projections: ds.map((d) => `${d.projection}:${d.digest}:${d.documents}`) });
