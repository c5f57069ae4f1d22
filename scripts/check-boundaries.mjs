#!/usr/bin/env node
// Layer rules, checked on every `npm test`:
//   - a service's domain/ imports no framework, transport, adapter or generated contract (tests aside);
//   - a service's application/ imports no adapter;
//   - a service never imports another service (they talk through events and gRPC);
//   - libraries never import services or the CLI (testkit, a testing library, may).
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join, relative, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const services = readdirSync(join(root, 'services'));
const servicePackages = new Set(services.map((s) => `@opal/${s}`));
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g;

function walk(dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const problems = [];
const check = (file, spec, rule) => problems.push(`${relative(root, file)}: imports ${spec} (${rule})`);

for (const service of services) {
  const src = join(root, 'services', service, 'src');
  for (const file of walk(src)) {
    const layer = relative(src, file).split('/')[0];
    const spec_ = file.endsWith('.spec.ts'); // tests may wire adapters and touch files; never other services
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const spec = m[1] ?? m[2];
      if (servicePackages.has(spec) && spec !== `@opal/${service}`) check(file, spec, 'a service never imports another service');
      if (layer === 'domain' && !spec_) {
        if (/^(@nestjs|@grpc|@opal\/contracts|kafkajs|mongodb|pino)/.test(spec) || /\/(application|adapters|projections)\//.test(spec) || spec.startsWith('../application') || spec.startsWith('../adapters')) {
          check(file, spec, 'the domain imports no framework, transport, adapter or generated contract');
        }
        if (/^node:(fs|net|http|child_process)/.test(spec)) check(file, spec, 'the domain does no I/O');
      }
      if (layer === 'application' && !spec_ && (spec.startsWith('../adapters') || spec.includes('/adapters/'))) check(file, spec, 'application code imports no adapter');
    }
  }
}
for (const lib of readdirSync(join(root, 'libs'))) {
  if (lib === 'testkit') continue;
  for (const file of walk(join(root, 'libs', lib, 'src'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const spec = m[1] ?? m[2];
      if (servicePackages.has(spec) || spec === '@opal/cli') check(file, spec, 'a library never imports a service or the CLI');
    }
  }
}
if (problems.length > 0) {
  console.error(`layer rules broken:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log('boundaries: ok');
