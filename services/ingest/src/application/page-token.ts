import { IngestError } from '../domain/ingest.errors.js';
import { CONTRIBUTION_ORDER } from '../projections/ingest-contributions.projection.js';

/**
 * ListContributions' page tokens: where a page ended in its list (the sort's values and the id of
 * its last contribution) and which list that was, opaque to the client (base64url of JSON).
 */
export const pageTokens = {
  write(list: string, after: { keys: (string | number)[]; id: string }): string {
    return Buffer.from(JSON.stringify({ v: 1, list, keys: after.keys, id: after.id })).toString('base64url');
  },
  read(token: string, list: string): { keys: (string | number)[]; id: string } {
    let t: { v?: unknown; list?: unknown; keys?: unknown; id?: unknown };
    try {
      t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as typeof t;
    } catch {
      t = {};
    }
    const keys = t?.keys;
    // The sort's values as the list has them (CONTRIBUTION_ORDER: a Datanet id, a sequence): a
    // value of another type matched nothing on MongoDB (the list seemed to end) and was coerced in
    // memory, so the stores answered differently.
    const valid =
      t?.v === 1 && typeof t.list === 'string' && typeof t.id === 'string' && Array.isArray(keys) && keys.length === CONTRIBUTION_ORDER.length &&
      typeof keys[0] === 'string' && Number.isSafeInteger(keys[1]) && (keys[1] as number) >= 0;
    if (!valid) throw new IngestError('INVALID_FIELD', 'page_token: not a next_page_token of ListContributions');
    if (t.list !== list) throw new IngestError('INVALID_FIELD', 'page_token: made for another contributor or datanet_id');
    // A list of one Datanet's contributions: its token is at a contribution of that Datanet.
    const datanetId = list.slice(list.indexOf('/') + 1);
    if (datanetId && keys[0] !== datanetId) throw new IngestError('INVALID_FIELD', 'page_token: not a next_page_token of ListContributions');
    return { keys: keys as (string | number)[], id: t.id as string };
  },
};
