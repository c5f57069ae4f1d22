import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
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

export type OpalProcessOptions = {
  /** The opal command: ['up'] (default) or ['serve', '<service>']. */
  readonly command?: readonly string[];
  /** Extra environment, e.g. OPAL_EVENT_LOG and OPAL_STORE for the scaled-out mode. */
  readonly env?: Readonly<Record<string, string>>;
  /** Arguments for the node binary, e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/p'] to profile the server. */
  readonly nodeArgs?: readonly string[];
  /** Appends the process's stdout (its log) and stderr to this file, for a look after a failure. */
  readonly logFile?: string;
};

/** `opal up` (or `opal serve <service>`) as a real child process on free loopback ports. */
export class OpalProcess {
  child: ChildProcess | undefined;
  port = 0;
  /** The inference service's HTTP port (OpenAI-compatible API and /metrics). */
  httpPort = 0;
  constructor(
    readonly dataDir: string,
    private readonly options: OpalProcessOptions = {},
  ) {}

  get url(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (!this.port) this.port = await freePort();
    if (!this.httpPort) this.httpPort = await freePort();
    const command = this.options.command ?? ['up'];
    const name = `opal ${command.join(' ')}`;
    const child = spawn(process.execPath, [...(this.options.nodeArgs ?? []), opalBin, ...command], {
      env: {
        ...process.env,
        OPAL_DATA_DIR: this.dataDir,
        OPAL_GRPC_PORT: String(this.port),
        OPAL_HTTP_PORT: String(this.httpPort),
        OPAL_LOG_LEVEL: 'warn',
        ...this.options.env,
      },
      stdio: ['ignore', this.options.logFile ? 'pipe' : 'ignore', 'pipe'],
    });
    this.child = child;
    if (this.options.logFile) {
      const out = createWriteStream(this.options.logFile, { flags: 'a' });
      child.stdout!.pipe(out);
      child.stderr!.pipe(out);
    }
    let err = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not start in 60 s:\n${err}`)), 60_000);
      child.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes('listening on')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited with ${code}:\n${err}`));
      });
    });
    child.removeAllListeners('exit');
  }

  /** SIGKILL by default: no shutdown hooks, no final snapshot. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill(signal);
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill('SIGTERM');
  }
}
