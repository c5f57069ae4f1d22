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
// The attribution index is gigabytes of typed arrays searched and sorted at random: with 4 KiB
// pages nearly every access misses the TLB. glibc's malloc asks for transparent huge pages on its
// mappings when told to (glibc >= 2.35; the setting is read at process start, hence the re-run).
// The attribution service is deployed with the same variable.
const HUGE_PAGES = 'glibc.malloc.hugetlb=1';
if (suite === 'attribution' && !(process.env.GLIBC_TUNABLES ?? '').includes(HUGE_PAGES)) {
  const { spawnSync } = await import('node:child_process');
  const tunables = [process.env.GLIBC_TUNABLES, HUGE_PAGES].filter(Boolean).join(':');
  const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), suite, ...rest], { stdio: 'inherit', env: { ...process.env, GLIBC_TUNABLES: tunables } });
  process.exit(r.status ?? 1);
}
const { runSuite } = await import(pathToFileURL(join(distBench, 'harness.js')).href);
const mod = await import(pathToFileURL(join(distBench, `${suite}.bench.js`)).href);
await runSuite(suite, mod.run, rest);
