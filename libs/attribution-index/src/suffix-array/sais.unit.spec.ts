import { seededRandom } from '@opal/seeded-random';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildSuffixArray } from './sais.js';

function bruteForce(t: Uint32Array): number[] {
  const idx = Array.from({ length: t.length }, (_, i) => i);
  return idx.sort((a, b) => {
    while (a < t.length && b < t.length) {
      if (t[a] !== t[b]) return t[a]! - t[b]!;
      a++;
      b++;
    }
    return a === t.length ? -1 : 1; // the shorter suffix (a prefix of the other) sorts first
  });
}

const rng = seededRandom;

// Every way of sorting LMS substrings (direct keys of two or one character, induction) and the
// reduced problem (doubling, recursion) must give the oracle's order.
function check(t: Uint32Array, k: number): void {
  const expected = bruteForce(t);
  for (const stage1 of ['direct', 'direct-one-item', 'induce'] as const) {
    for (const reduced of ['auto', 'doubling', 'recursion'] as const) {
      assert.deepEqual(Array.from(buildSuffixArray(t, k, undefined, { stage1, reduced })), expected, `${stage1} ${reduced} text ${Array.from(t.slice(0, 40))}`);
    }
  }
}

describe('buildSuffixArray (SA-IS)', () => {
  it('given trivial inputs, when sorted, then matches the oracle', () => {
    assert.equal(buildSuffixArray(new Uint32Array(0), 1).length, 0);
    check(Uint32Array.of(0), 1);
    check(Uint32Array.of(1, 0), 2);
    check(Uint32Array.of(0, 1), 2);
  });

  it('given random texts over small and large alphabets, when sorted, then matches the oracle', () => {
    const r = rng(7);
    for (const k of [1, 2, 3, 4, 26, 1000, 100_000]) {
      for (let trial = 0; trial < 40; trial++) {
        const n = 1 + Math.floor(r() * 300);
        const t = new Uint32Array(n);
        for (let i = 0; i < n; i++) t[i] = Math.floor(r() * k);
        check(t, k);
      }
    }
  });

  it('given texts spanning many gather blocks, when sorted, then matches the oracle', () => {
    // Slots filled after their block was gathered (frequent with small alphabets and repeats)
    // must read their character again.
    const r = rng(13);
    for (const k of [2, 3, 26, 50_000]) {
      for (let trial = 0; trial < 4; trial++) {
        const n = 1000 + Math.floor(r() * 3000);
        const t = new Uint32Array(n);
        const block = Array.from({ length: 1 + Math.floor(r() * 40) }, () => Math.floor(r() * k));
        for (let i = 0; i < n; i++) t[i] = r() < 0.5 ? block[i % block.length]! : Math.floor(r() * r() * k);
        check(t, k);
      }
    }
  });

  it('given adversarial texts (all equal, periodic, Fibonacci, repeated blocks), when sorted, then matches the oracle', () => {
    const r = rng(11);
    for (const n of [2, 3, 17, 256, 1000]) check(new Uint32Array(n).fill(5), 6);
    for (const period of [2, 3, 7, 64]) {
      for (const n of [period * 3, period * 20 + 1]) {
        const t = new Uint32Array(n);
        for (let i = 0; i < n; i++) t[i] = (i % period) * 3;
        check(t, period * 3);
      }
    }
    let a = [0];
    let b = [0, 1];
    while (b.length < 800) [a, b] = [b, b.concat(a)];
    check(Uint32Array.from(b), 2);
    for (let trial = 0; trial < 20; trial++) {
      const block = Array.from({ length: 1 + Math.floor(r() * 20) }, () => Math.floor(r() * 50_000));
      const t: number[] = [];
      while (t.length < 500) t.push(...(r() < 0.8 ? block : [Math.floor(r() * 50_000)]));
      check(Uint32Array.from(t), 50_000);
    }
    // Long LMS substrings (a rise then a fall) repeated: direct keys must refine the tie many
    // characters deep, and the copies differ only near their ends.
    for (const len of [50, 300]) {
      const hill = [...Array.from({ length: len }, (_, i) => i + 1), ...Array.from({ length: len }, (_, i) => len - i)];
      const t: number[] = [];
      for (let rep = 0; rep < 5; rep++) t.push(...hill, rep % 2 === 0 ? 0 : len + 1);
      check(Uint32Array.from(t), len + 2);
      check(Uint32Array.from([...hill, ...hill]), len + 1);
    }
    // Descending then ascending runs make every position LMS-rich and force deep recursion.
    const t = new Uint32Array(600);
    for (let i = 0; i < 600; i++) t[i] = i % 2 === 0 ? 2 : i % 4 === 1 ? 1 : 3;
    check(t, 4);
  });

  it('given a result array that is not 8-byte aligned, when sorted, then it induces and matches the oracle', () => {
    const t = Uint32Array.from({ length: 500 }, (_, i) => (i * 7919) % 31);
    const into = new Int32Array(t.length + 1).subarray(1);
    assert.deepEqual(Array.from(buildSuffixArray(t, 31, into)), bruteForce(t));
  });

  it('given word-like text with copied documents, when sorted every way, then all ways agree and suffixes are in order', () => {
    // Zipf ids over a large alphabet, as the index sorts them, with some documents copied whole:
    // the reduced problem has mostly distinct names (doubling), the copies leave long ties.
    const r = rng(5);
    const k = 5000;
    const docs: number[][] = [];
    const t: number[] = [];
    while (t.length < 150_000) {
      const doc = docs.length > 10 && r() < 0.1 ? docs[Math.floor(r() * docs.length)]! : Array.from({ length: 50 + Math.floor(r() * 450) }, () => Math.floor(1 / (r() * (1 - 1 / k) + 1 / k)));
      docs.push(doc);
      t.push(...doc, 0);
    }
    const text = Uint32Array.from(t);
    const sa = buildSuffixArray(text, k + 1);
    assertSorted(text, sa);
    for (const stage1 of ['direct', 'direct-one-item', 'induce'] as const) {
      for (const reduced of ['doubling', 'recursion'] as const) {
        assert.deepEqual(buildSuffixArray(text, k + 1, undefined, { stage1, reduced }), sa, `${stage1} ${reduced}`);
      }
    }
  });

  it('given a larger random text, when sorted, then suffixes are in order', () => {
    const r = rng(3);
    const n = 200_000;
    const t = new Uint32Array(n);
    for (let i = 0; i < n; i++) t[i] = Math.floor(r() * r() * 8);
    assertSorted(t, buildSuffixArray(t, 8));
  });
});

/** A permutation of the positions with every suffix below the next. */
function assertSorted(t: Uint32Array, sa: Int32Array): void {
  const n = t.length;
  const seen = new Uint8Array(n);
  for (let i = 0; i < n; i++) seen[sa[i]!] = 1;
  assert.equal(seen.reduce((s, x) => s + x, 0), n);
  for (let i = 1; i < n; i++) {
    let a = sa[i - 1]!;
    let b = sa[i]!;
    while (a < n && b < n && t[a] === t[b]) a++, b++;
    assert.ok(a === n || (b < n && t[a]! < t[b]!), `order at ${i}`);
  }
}
