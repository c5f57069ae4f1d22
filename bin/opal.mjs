#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../tools/cli/dist/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('opal: not built yet; run `npm run build` first\n');
  process.exit(1);
}
const { run } = await import(entry.href);
await run(process.argv.slice(2));
