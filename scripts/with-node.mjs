#!/usr/bin/env node
// Runs a command with another major version of Node first on PATH, installed from the npm registry's
// `node` package into .cache/node/<major> (once; `--update` takes the newest release of that major
// again). The project supports Node 20, 22 and 24; this checks the others on a machine that has one.
//
//   node scripts/with-node.mjs 24 node --version
//   git clone . /tmp/opal-24 && cd /tmp/opal-24 && node scripts/with-node.mjs 24 bash .ci/run
//
// `.ci/run` installs the dependencies again, so native addons are built for the Node that runs them;
// run it in a clone, since the checkout's node_modules then suit that Node rather than this one.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const update = args[0] === '--update';
if (update) args.shift();
const [major, ...command] = args;
if (!/^\d+$/.test(major ?? '') || command.length === 0) {
  console.error('usage: node scripts/with-node.mjs [--update] <major> <command> [args...]');
  process.exit(2);
}

const home = join(root, '.cache', 'node', major);
const binDir = join(home, 'node_modules', 'node', 'bin');
const run = (cmd, cmdArgs, env = process.env) => spawnSync(cmd, cmdArgs, { stdio: 'inherit', env });

if (update || !existsSync(join(binDir, 'node'))) {
  if (update) rmSync(home, { recursive: true, force: true });
  mkdirSync(home, { recursive: true });
  console.error(`with-node: installing node@${major} into ${home}`);
  const r = run('npm', ['install', '--prefix', home, '--no-save', '--no-audit', '--no-fund', '--loglevel=error', `node@${major}`]);
  if (r.status !== 0 || !existsSync(join(binDir, 'node'))) {
    console.error(`with-node: could not install node@${major} (npm exited ${r.status})`);
    process.exit(1);
  }
}

const version = spawnSync(join(binDir, 'node'), ['--version'], { encoding: 'utf8' }).stdout.trim();
console.error(`with-node: ${version} (${binDir})`);
const r = run(command[0], command.slice(1), { ...process.env, PATH: `${binDir}${delimiter}${process.env.PATH ?? ''}` });
process.exit(r.status ?? 1);
