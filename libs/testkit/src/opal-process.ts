import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const opalBin = join(repoRoot, 'bin', 'opal.mjs');

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Runs the opal CLI to completion; resolves with its exit code and output. */
export function runOpal(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [opalBin, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** `opal up` as a real child process on a free loopback port and its own data folder. */
export class OpalProcess {
  child: ChildProcess | undefined;
  port = 0;
  /** The inference service's HTTP port (OpenAI-compatible API and /metrics). */
  httpPort = 0;
  /** `nodeArgs` go to the node binary, e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/p'] to profile the server. */
  constructor(
    readonly dataDir: string,
    private readonly nodeArgs: readonly string[] = [],
  ) {}

  get url(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (!this.port) this.port = await freePort();
    if (!this.httpPort) this.httpPort = await freePort();
    const child = spawn(process.execPath, [...this.nodeArgs, opalBin, 'up'], {
      env: { ...process.env, OPAL_DATA_DIR: this.dataDir, OPAL_GRPC_PORT: String(this.port), OPAL_HTTP_PORT: String(this.httpPort), OPAL_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    let err = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`opal up did not start in 30 s:\n${err}`)), 30_000);
      child.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes('listening on')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`opal up exited with ${code}:\n${err}`));
      });
    });
    child.removeAllListeners('exit');
  }

  /** SIGKILL: no shutdown hooks, no final snapshot. */
  async kill(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await exited;
  }
}
