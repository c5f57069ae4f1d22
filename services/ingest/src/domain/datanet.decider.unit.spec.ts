import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RecordedEvent } from '@opal/event-sourcing';
import { decideCreate, decidePublish, decideReview, decideSubmit, type CreateDatanet, type SubmitContribution } from './datanet.decider.js';
import { evolveDatanet, initialDatanetState, type DatanetState } from './datanet.state.js';
import type { IngestEvent } from './ingest.events.js';
import { IngestError } from './ingest.errors.js';
import { minhash } from './near-duplicate.js';
import { contentHashOf } from './identifiers.js';

const DAY = 86_400_000;
const T0 = 1_760_000_000_000;
const alice = '0x00000000000000000000000000000000000A11CE';
const bob = '0x0000000000000000000000000000000000000B0B';
const validator = '0x000000000000000000000000000000000000BEEF';

const create = (over: Partial<CreateDatanet['policy']> = {}): CreateDatanet => ({
  datanetId: 'net',
  name: 'Net',
  description: '',
  tags: [],
  dataKind: 'text',
  jsonSchema: '',
  license: 'MIT',
  owner: alice,
  policy: { maxItemBytes: 1000, dailyQuota: 0, reviewRequired: false, nearDuplicatePpm: 800_000, validators: [], ...over },
});

/** Given these events, the state a command decides on. */
function given(events: readonly IngestEvent[], at = T0): DatanetState {
  let s = initialDatanetState();
  events.forEach((e, i) => (s = evolveDatanet(s, { ...e, meta: { streamId: 'datanet-net', streamSeq: i + 1, occurredAt: at, eventId: '' } } as RecordedEvent<IngestEvent>)));
  return s;
}

let n = 0;
const item = (text: string, who = alice, over: Partial<SubmitContribution> = {}): SubmitContribution => ({
  contributionId: `0x${(++n).toString(16).padStart(64, '0')}`,
  contributor: who,
  nonce: BigInt(n),
  signature: new Uint8Array(65),
  contentHash: contentHashOf(Buffer.from(text)),
  sizeBytes: Buffer.byteLength(text),
  contentProblem: undefined,
  minhash: minhash(text),
  ...over,
});

/** Folds events into the state, as the aggregate cache does after a decision. */
function fold(state: DatanetState, events: readonly IngestEvent[], at = T0): DatanetState {
  let s = state;
  events.forEach((e, i) => (s = evolveDatanet(s, { ...e, meta: { streamId: 'datanet-net', streamSeq: 100 + i, occurredAt: at, eventId: '' } } as RecordedEvent<IngestEvent>)));
  return s;
}

/** When `cmd` is submitted: the events and outcome (the state, updated in place for these events, is folded). */
function submit(state: DatanetState, cmd: SubmitContribution, at = T0) {
  const d = decideSubmit(state, cmd, at);
  assert.equal(fold(state, d.events, at), state, 'contribution events update the write model in place');
  return d;
}

const words = (seed: number, count = 60) => Array.from({ length: count }, (_, i) => `w${(seed * 7919 + i * 104729) % 100_003}`).join(' ');

describe('Datanet decider', () => {
  it('creates a Datanet once, and refuses review without validators', () => {
    const events = decideCreate(initialDatanetState(), create());
    assert.deepEqual(events.map((e) => e.type), ['DatanetCreated']);
    assert.throws(() => decideCreate(given(events), create()), (e: unknown) => e instanceof IngestError && e.code === 'DATANET_EXISTS');
    assert.throws(() => decideCreate(initialDatanetState(), create({ reviewRequired: true })), /policy.validators/);
    assert.throws(() => decideCreate(initialDatanetState(), create({ maxItemBytes: 0 })), /policy.max_item_bytes/);
  });

  it('accepts a new item with Submitted then Accepted, and rejects by rule in order', () => {
    const s = given(decideCreate(initialDatanetState(), create()));
    const first = submit(s, item(words(1)));
    assert.deepEqual(first.events.map((e) => e.type), ['ContributionSubmitted', 'ContributionAccepted']);
    assert.equal(first.outcome.status, 'ACCEPTED');
    const big = submit(s, item('x'.repeat(1001), alice, { minhash: undefined }));
    assert.equal(big.outcome.reason, 'TOO_LARGE');
    assert.deepEqual(big.events.map((e) => e.type), ['ContributionRejected']);
    const bad = submit(s, item('\ufffd', alice, { contentProblem: { reason: 'INVALID_UTF8', detail: 'not UTF-8' }, minhash: undefined }));
    assert.equal(bad.outcome.reason, 'INVALID_UTF8');
    const copy = item(words(1), bob);
    copy.contentHash = (s.accepted[0]!).contentHash;
    const dup = submit(s, copy);
    assert.equal(dup.outcome.reason, 'DUPLICATE');
    assert.equal(dup.outcome.duplicateOf, first.outcome.contributionId);
    const near = submit(s, item(words(1).replace(/w\d+ w\d+$/, 'changed words'), bob));
    assert.equal(near.outcome.reason, 'NEAR_DUPLICATE');
    assert.equal(near.outcome.duplicateOf, first.outcome.contributionId);
    assert.equal(submit(s, item(words(2), bob)).outcome.status, 'ACCEPTED', 'different text is not a near duplicate');
  });

  it('treats the same contribution id again as a replay: no event, nothing changes', () => {
    const s = given(decideCreate(initialDatanetState(), create()));
    const cmd = item(words(3));
    submit(s, cmd);
    const again = submit(s, cmd);
    assert.deepEqual(again.events, []);
    assert.equal(again.outcome.reason, 'NONCE_REPLAYED');
    assert.equal(s.accepted.length, 1);
    // A retry of the same content is told what became of the first; other content under the nonce is not.
    assert.match(again.outcome.detail, new RegExp(`already used by ${cmd.contributor} for this same content: contribution ${cmd.contributionId} is ACCEPTED$`));
    const other = submit(s, { ...item(words(4)), contributionId: cmd.contributionId, nonce: cmd.nonce });
    assert.equal(other.outcome.reason, 'NONCE_REPLAYED');
    assert.match(other.outcome.detail, new RegExp(`for other content \\(contribution ${cmd.contributionId}\\)$`));
  });

  it('enforces the daily quota per contributor and UTC day', () => {
    const s = given(decideCreate(initialDatanetState(), create({ dailyQuota: 2 })));
    assert.equal(submit(s, item(words(10))).outcome.status, 'ACCEPTED');
    assert.equal(submit(s, item(words(11))).outcome.status, 'ACCEPTED');
    assert.equal(submit(s, item(words(12))).outcome.reason, 'QUOTA_EXCEEDED');
    assert.equal(submit(s, item(words(13), bob)).outcome.status, 'ACCEPTED', 'another contributor has their own quota');
    assert.equal(submit(s, item(words(14)), T0 + DAY).outcome.status, 'ACCEPTED', 'a new day, a new quota');
  });

  it('holds items for review; a validator accepts or declines once; others may not', () => {
    const s = given(decideCreate(initialDatanetState(), create({ reviewRequired: true, validators: [validator] })));
    const a = submit(s, item(words(20)));
    assert.equal(a.outcome.status, 'PENDING_REVIEW');
    assert.deepEqual(a.events.map((e) => e.type), ['ContributionSubmitted']);
    const review = (id: string, approve: boolean, by = validator) => decideReview(s, { contributionId: id, validator: by, approve, comment: '', signature: new Uint8Array(65) });
    assert.throws(() => review(a.outcome.contributionId, true, bob), (e: unknown) => e instanceof IngestError && e.code === 'NOT_A_VALIDATOR');
    const approved = review(a.outcome.contributionId, true);
    assert.deepEqual(approved.map((e) => e.type), ['ContributionReviewed', 'ContributionAccepted']);
    fold(s, approved);
    assert.throws(() => review(a.outcome.contributionId, false), (e: unknown) => e instanceof IngestError && e.code === 'NOT_PENDING_REVIEW');
    const b = submit(s, item(words(21)));
    const declined = review(b.outcome.contributionId, false);
    assert.equal(declined[1]!.type, 'ContributionRejected');
    if (declined[1]!.type === 'ContributionRejected') assert.equal(declined[1]!.data.reason, 'REVIEW_DECLINED');
  });

  it('publishes only when there is something new, numbering versions from 1', () => {
    let s = given(decideCreate(initialDatanetState(), create()));
    assert.throws(() => decidePublish(s, () => '0xroot'), (e: unknown) => e instanceof IngestError && e.code === 'NOTHING_TO_PUBLISH');
    submit(s, item(words(30)));
    const [v1] = decidePublish(s, (entries) => `0x${entries.length}`);
    assert.equal(v1!.type, 'DatanetVersionPublished');
    if (v1!.type !== 'DatanetVersionPublished') return;
    assert.equal(v1.data.version, 1);
    assert.equal(v1.data.merkleRoot, '0x1');
    s = fold(s, [v1]);
    assert.throws(() => decidePublish(s, () => '0x'), /no accepted contributions since version 1/);
  });

  it('lists in a version only what was accepted since the last, after the entries it carries', () => {
    let s = given(decideCreate(initialDatanetState(), create()));
    submit(s, item(words(40)));
    submit(s, item(words(41)));
    const [v1] = decidePublish(s, (entries) => entries.map((x) => x.contributionId).join(','));
    if (v1!.type !== 'DatanetVersionPublished') throw new Error(v1!.type);
    assert.equal(v1.data.carried, 0);
    assert.equal(v1.data.entries.length, 2);
    s = fold(s, [v1]);
    const third = submit(s, item(words(42)));
    const [v2] = decidePublish(s, (entries) => entries.map((x) => x.contributionId).join(','));
    if (v2!.type !== 'DatanetVersionPublished') throw new Error(v2!.type);
    assert.equal(v2.data.version, 2);
    assert.equal(v2.data.carried, 2);
    assert.deepEqual(v2.data.entries.map((x) => x.contributionId), [third.outcome.contributionId]);
    // The root and the byte count are the whole manifest's.
    assert.equal(v2.data.merkleRoot, [...v1.data.entries, ...v2.data.entries].map((x) => x.contributionId).join(','));
    assert.equal(v2.data.totalBytes, s.acceptedBytes);
    assert.ok(v2.data.totalBytes > v1.data.totalBytes);
  });

  it('adds at most `maxEntries` to a version, and up to `upTo`: the rest goes to the versions after it', () => {
    let s = given(decideCreate(initialDatanetState(), create()));
    const ids = [50, 51, 52, 53, 54].map((seed) => submit(s, item(words(seed, 40 + seed))).outcome.contributionId);
    const sizes = s.acceptedSizes.map(BigInt);
    const root = (entries: readonly { contributionId: string }[]) => entries.map((x) => x.contributionId).join(',');
    const published: { carried: number; listed: string[]; root: string; bytes: bigint }[] = [];
    for (;;) {
      let events;
      try {
        events = decidePublish(s, root, { upTo: 4, maxEntries: 3 });
      } catch (e) {
        assert.ok(e instanceof IngestError && e.code === 'NOTHING_TO_PUBLISH');
        break;
      }
      const [v] = events;
      if (v!.type !== 'DatanetVersionPublished') throw new Error(v!.type);
      published.push({ carried: v.data.carried, listed: v.data.entries.map((x) => x.contributionId), root: v.data.merkleRoot, bytes: v.data.totalBytes });
      s = fold(s, events);
    }
    assert.deepEqual(published, [
      { carried: 0, listed: ids.slice(0, 3), root: ids.slice(0, 3).join(','), bytes: sizes[0]! + sizes[1]! + sizes[2]! },
      { carried: 3, listed: ids.slice(3, 4), root: ids.slice(0, 4).join(','), bytes: sizes[0]! + sizes[1]! + sizes[2]! + sizes[3]! },
    ]);
    assert.equal(s.version, 2);
    const [v3] = decidePublish(s, root, { maxEntries: 3 });
    if (v3!.type !== 'DatanetVersionPublished') throw new Error(v3!.type);
    assert.deepEqual([v3.data.carried, v3.data.entries.map((x) => x.contributionId), v3.data.totalBytes], [4, ids.slice(4), s.acceptedBytes]);
  });
});
