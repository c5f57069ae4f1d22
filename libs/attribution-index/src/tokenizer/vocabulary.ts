/** Token id given to a word the index has never seen: it matches nothing. */
export const UNKNOWN_TOKEN = 0xffffffff;
/** Id 0 ends every document inside a shard, so no match can run from one document into the next. */
export const DOCUMENT_SEPARATOR = 0;

/**
 * Words <-> Uint32 ids. Ids are assigned in first-seen order while an index is built and are stored
 * with the index, so they stay stable for that index.
 */
export class Vocabulary {
  private readonly ids = new Map<string, number>();
  private readonly list: string[] = [''];

  /** Words get ids 1, 2, ... in the given order (id 0 is the document separator). */
  static fromWords(words: Iterable<string>): Vocabulary {
    const v = new Vocabulary();
    for (const w of words) v.add(w);
    return v;
  }

  get size(): number {
    return this.list.length;
  }

  /** Id of a word, adding it when new. */
  add(word: string): number {
    if (word.length === 0 || word.includes('\n')) throw new Error(`not a word: ${JSON.stringify(word)}`);
    let id = this.ids.get(word);
    if (id === undefined) {
      id = this.list.length;
      if (id >= UNKNOWN_TOKEN) throw new Error('vocabulary is full');
      this.ids.set(word, id);
      this.list.push(word);
    }
    return id;
  }

  /** Id of a word, or UNKNOWN_TOKEN. */
  lookup(word: string): number {
    return this.ids.get(word) ?? UNKNOWN_TOKEN;
  }

  word(id: number): string {
    const w = this.list[id];
    if (w === undefined) throw new RangeError(`no word with id ${id}`);
    return w;
  }

  idsOf(words: readonly string[], grow: boolean): Uint32Array {
    const out = new Uint32Array(words.length);
    for (let i = 0; i < words.length; i++) out[i] = grow ? this.add(words[i]!) : this.lookup(words[i]!);
    return out;
  }

  /** Words of ids 1.. separated by '\n' (normalised words never contain whitespace). */
  serialize(): Buffer {
    return Buffer.from(this.list.slice(1).join('\n'), 'utf8');
  }

  static deserialize(bytes: Uint8Array): Vocabulary {
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
    return Vocabulary.fromWords(text.length === 0 ? [] : text.split('\n'));
  }
}
