import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IngestError } from '../domain/ingest.errors.js';
import { pageTokens } from './page-token.js';

const forged = (t: object) => Buffer.from(JSON.stringify(t)).toString('base64url');
const refused = (e: unknown) => e instanceof IngestError && e.code === 'INVALID_FIELD' && /^page_token: /.test(e.message);

describe('ListContributions page tokens', () => {
  it('read back where the page ended, for the list they were made for', () => {
    const token = pageTokens.write('/net', { keys: ['net', 41], id: 'c41' });
    assert.deepEqual(pageTokens.read(token, '/net'), { keys: ['net', 41], id: 'c41' });
    // A contributor's list spans Datanets.
    assert.deepEqual(pageTokens.read(pageTokens.write('0xab/', { keys: ['other', 3], id: 'c3' }), '0xab/'), { keys: ['other', 3], id: 'c3' });
  });

  it('refuse a token of another list, of values of the wrong kinds, or at another Datanet than the one listed, naming page_token', () => {
    assert.throws(() => pageTokens.read(pageTokens.write('/net', { keys: ['net', 1], id: 'c1' }), '/other'), refused);
    for (const keys of [['net', '5'], [5, 5], ['net', -1], ['net', 1.5], ['net']]) {
      assert.throws(() => pageTokens.read(forged({ v: 1, list: '/net', keys, id: 'c' }), '/net'), refused, JSON.stringify(keys));
    }
    assert.throws(() => pageTokens.read(forged({ v: 1, list: '/net', keys: ['elsewhere', 5], id: 'c' }), '/net'), refused);
    assert.throws(() => pageTokens.read('not a token', '/net'), refused);
  });
});
