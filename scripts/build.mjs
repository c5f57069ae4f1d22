#!/usr/bin/env node
// Compiles every TypeScript source of the workspace with swc (fast, no type check; `npm run typecheck`
// does that). Each package's src/ goes to its dist/; test/ and bench/ go to dist/test and dist/bench.
// Only files newer than their output are recompiled.
import { transformFile } from '@swc/core';
import { readdirSync, statSync, mkdirSync, writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { join, dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyPatches } from './patch-dependencies.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const quiet = process.argv.includes('--quiet');
const clean = process.argv.includes('--clean');
// The dependency edits `npm ci` applies, in case this checkout was installed before one was added.
for (const r of applyPatches(join(root, 'node_modules'))) if (r.outcome === 'applied') console.log(`patched ${r.package}/${r.file}`);
const swcrc = JSON.parse(readFileSync(join(root, '.swcrc'), 'utf8'));

function walk(dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) walk(p, out);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const units = [];
for (const group of ['libs', 'services', 'tools']) {
  const g = join(root, group);
  if (!existsSync(g)) continue;
  for (const pkg of readdirSync(g)) {
    const src = join(g, pkg, 'src');
    if (existsSync(src)) units.push({ src, out: join(g, pkg, 'dist') });
  }
}
for (const dir of ['test', 'bench']) units.push({ src: join(root, dir), out: join(root, 'dist', dir) });

// Drop outputs whose source is gone, so a deleted test never runs from a stale dist/.
function prune(src, out) {
  if (!existsSync(out)) return;
  for (const name of readdirSync(out)) {
    const p = join(out, name);
    if (statSync(p).isDirectory()) { prune(join(src, name), p); continue; }
    const base = name.replace(/\.js(\.map)?$/, '');
    if (base !== name && !existsSync(join(src, base + '.ts'))) rmSync(p);
  }
}

let compiled = 0;
const jobs = [];
for (const { src, out } of units) {
  if (clean) rmSync(out, { recursive: true, force: true });
  prune(src, out);
  for (const file of walk(src)) {
    const target = join(out, relative(src, file)).replace(/\.ts$/, '.js');
    if (existsSync(target) && statSync(target).mtimeMs >= statSync(file).mtimeMs) continue;
    jobs.push(
      transformFile(file, { ...swcrc, swcrc: false, filename: file, sourceFileName: relative(dirname(target), file) }).then((r) => {
        mkdirSync(dirname(target), { recursive: true });
        writeFileSync(target, r.code + `\n//# sourceMappingURL=${target.split('/').pop()}.map\n`);
        writeFileSync(target + '.map', r.map ?? '');
        compiled++;
      }),
    );
  }
}
await Promise.all(jobs);
if (!quiet) console.log(`build: ${compiled} file(s) compiled`);
