#!/usr/bin/env node
// npm run eval -- <suite> [--json] [--seed N] [--documents N] [--queries N]
// Suites: attribution (planted-passage corpus against @opal/attribution-index).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const [suite, ...rest] = process.argv.slice(2);
const { values } = parseArgs({ args: rest, strict: false });
const json = values.json === true;
const num = (v, d) => (typeof v === 'string' ? Number(v) : d);

async function attribution() {
  const { buildIndex, AttributionIndex } = await import('@opal/attribution-index');
  const { generatePlantedCorpus, evaluate } = await import('@opal/attribution-index/eval');
  const params = { seed: num(values.seed, 42), documents: num(values.documents, 5000), queries: num(values.queries, 100) };
  const dir = mkdtempSync(join(tmpdir(), 'opal-eval-'));
  try {
    const corpus = generatePlantedCorpus(params);
    await buildIndex(corpus.documents, { dir, shardTokens: 250_000 });
    const r = evaluate(AttributionIndex.open(dir), corpus.queries);
    return [
      ['precision_at_10', r.precisionAt10, 'ratio'],
      ['recall_at_10', r.recallAt10, 'ratio'],
      ['copy_credit_share', r.copyCreditShare, 'ratio'],
      ['boilerplate_credit_share', r.boilerplateCreditShare, 'ratio'],
    ].map(([metric, value, unit]) => ({ suite: 'attribution-eval', metric, value, unit, params }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const suites = { attribution };
if (!suites[suite]) {
  console.error(`usage: npm run eval -- <suite> [--json]\nsuites: ${Object.keys(suites).join(', ')}`);
  process.exit(2);
}
for (const row of await suites[suite]()) {
  if (json) console.log(JSON.stringify(row));
  else console.log(`${row.metric.padEnd(26)} ${row.value.toFixed(4)} ${row.unit}  ${Object.entries(row.params).map(([k, v]) => `${k}=${v}`).join(' ')}`);
}
