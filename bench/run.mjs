#!/usr/bin/env node
// npm run bench -- <suite> [--json] [suite options]
// Each suite is bench/<suite>.bench.ts (compiled to dist/bench), exporting `run(ctx)`.
import { existsSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const distBench = join(root, 'dist', 'bench');
const [suite, ...rest] = process.argv.slice(2);
const suites = existsSync(distBench)
  ? readdirSync(distBench).filter((f) => f.endsWith('.bench.js')).map((f) => f.replace('.bench.js', ''))
  : [];
if (!suite || !suites.includes(suite)) {
  console.error(`usage: npm run bench -- <suite> [--json] [options]\nsuites: ${suites.join(', ')}`);
  process.exit(2);
}
const { runSuite } = await import(pathToFileURL(join(distBench, 'harness.js')).href);
const mod = await import(pathToFileURL(join(distBench, `${suite}.bench.js`)).href);
await runSuite(suite, mod.run, rest);
