/**
 * The straightforward way to find the longest match at every output position: walk the whole text
 * once, and wherever a text token starts one of the output's tokens, extend the match. No index.
 */
export function linearScanLongestMatches(text: Uint32Array, q: Uint32Array): Uint32Array {
  const best = new Uint32Array(q.length);
  const at = new Map<number, number[]>();
  q.forEach((t, i) => at.set(t, [...(at.get(t) ?? []), i]));
  for (let p = 0; p < text.length; p++) {
    const starts = at.get(text[p]!);
    if (!starts) continue;
    for (const i of starts) {
      let d = 1;
      while (i + d < q.length && p + d < text.length && text[p + d] === q[i + d]) d++;
      if (d > best[i]!) best[i] = d;
    }
  }
  return best;
}
