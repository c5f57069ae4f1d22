export const PPM = 1_000_000;

/**
 * Integer parts per million, summing exactly to 1,000,000, from non-negative integer credits, with
 * no key above `capPpm` (excess goes to the others in proportion to their credit; the cap is
 * raised to ceil(1e6 / n) when n keys could not otherwise fill the million).
 *
 * Exact rational arithmetic (BigInt) and largest-remainder rounding; ties go to the smaller key, so
 * the result depends only on the inputs. Keys with zero credit get nothing; all zero: empty.
 */
export function toPartsPerMillion(credits: ReadonlyMap<string, bigint>, capPpm: number): Map<string, number> {
  const keys = [...credits.keys()].filter((k) => credits.get(k)! > 0n).sort();
  const out = new Map<string, number>();
  if (keys.length === 0) return out;
  const cap = BigInt(Math.max(capPpm, Math.ceil(PPM / keys.length)));
  const capped = new Set<string>();
  // Water-filling: cap whoever would exceed the cap at the current rate, until nobody does.
  for (;;) {
    const free = keys.filter((k) => !capped.has(k));
    const mass = BigInt(PPM) - cap * BigInt(capped.size);
    const total = free.reduce((s, k) => s + credits.get(k)!, 0n);
    const over = free.filter((k) => mass * credits.get(k)! > cap * total);
    if (over.length === 0 || free.length === over.length) {
      if (free.length === over.length) for (const k of over) capped.add(k);
      break;
    }
    for (const k of over) capped.add(k);
  }
  const free = keys.filter((k) => !capped.has(k));
  const mass = BigInt(PPM) - cap * BigInt(capped.size);
  const total = free.reduce((s, k) => s + credits.get(k)!, 0n);
  for (const k of capped) out.set(k, Number(cap));
  if (free.length === 0) return largestRemainderFix(out, keys);
  let given = 0n;
  const rem: { key: string; r: bigint }[] = [];
  for (const k of free) {
    const num = mass * credits.get(k)!;
    const q = num / total;
    given += q;
    out.set(k, Number(q));
    rem.push({ key: k, r: num % total });
  }
  rem.sort((a, b) => (a.r === b.r ? (a.key < b.key ? -1 : 1) : a.r > b.r ? -1 : 1));
  for (let i = 0; i < Number(mass - given); i++) out.set(rem[i]!.key, out.get(rem[i]!.key)! + 1);
  return out;
}

// All keys capped (only when cap * n === 1e6 exactly after raising): already sums to the million;
// kept as a guard so a future change to the cap rule cannot silently break the sum.
function largestRemainderFix(out: Map<string, number>, keys: string[]): Map<string, number> {
  let sum = 0;
  for (const v of out.values()) sum += v;
  for (let i = 0; sum < PPM; i = (i + 1) % keys.length, sum++) out.set(keys[i]!, out.get(keys[i]!)! + 1);
  return out;
}
