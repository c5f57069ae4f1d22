#!/usr/bin/env node
// Lints proto/ with buf and regenerates the TypeScript in libs/contracts/src/gen with ts-proto.
// Event payloads get binary codecs (they are written to the event log); service APIs get NestJS
// controller interfaces (the gRPC transport loads the .proto files at run time).
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join, dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const protoDir = join(root, 'proto');
const buf = join(root, 'node_modules', '.bin', 'buf');
const run = (args) => execFileSync(buf, args, { cwd: protoDir, stdio: 'inherit' });

function protos(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) protos(p, out);
    else if (p.endsWith('.proto')) out.push(relative(protoDir, p));
  }
  return out;
}

run(['lint']);
const all = protos(join(protoDir, 'opal'));
const events = all.filter((p) => p.endsWith('/events.proto') || p.endsWith('/envelope.proto'));
const apis = all.filter((p) => !events.includes(p));
rmSync(join(root, 'libs/contracts/src/gen'), { recursive: true, force: true });
run(['generate', '--template', 'buf.gen.events.yaml', ...events.flatMap((p) => ['--path', p])]);
run(['generate', '--template', 'buf.gen.api.yaml', ...apis.flatMap((p) => ['--path', p])]);
console.log(`proto: generated ${events.length} event and ${apis.length} API files`);
