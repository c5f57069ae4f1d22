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

/** The most of a process's output (log and stderr) an OpalProcess keeps for `output()`. */
const KEPT_OUTPUT = 64 * 1024;

/** `opal up` (or `opal serve <service>`) as a real child process on free loopback ports. */
export class OpalProcess {
  child: ChildProcess | undefined;
  port = 0;
  /** The inference service's HTTP port (OpenAI-compatible API and /metrics). */
  httpPort = 0;
  /**
   * The port of the process's /metrics (and /livez, /readyz) once started, when it serves them:
   * with OPAL_METRICS_PORT=0 the process binds a free one itself and says which (no port picked
   * ahead, which another socket may take meanwhile).
   */
  metricsPort = 0;
  private kept = '';
  private moreEnv: Readonly<Record<string, string>> = {};
  constructor(
    readonly dataDir: string,
    private readonly options: OpalProcessOptions = {},
  ) {}

  /** More environment for the starts from now on (a restart with other settings), over the options'. */
  withEnv(env: Readonly<Record<string, string>>): void {
    this.moreEnv = { ...this.moreEnv, ...env };
  }

  get url(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const command = this.options.command ?? ['up'];
    const name = `opal ${command.join(' ')}`;
    const child = spawn(process.execPath, [...(this.options.nodeArgs ?? []), opalBin, ...command], {
      env: {
        ...process.env,
        OPAL_DATA_DIR: this.dataDir,
        // The first start binds free ports itself (0) and says which (one picked ahead here may be
        // taken meanwhile); a restart takes the same ones again, so clients keep their address.
        OPAL_GRPC_PORT: String(this.port),
        OPAL_HTTP_PORT: String(this.httpPort),
        OPAL_LOG_LEVEL: 'warn',
        ...this.options.env,
        ...this.moreEnv,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    if (this.options.logFile) {
      const out = createWriteStream(this.options.logFile, { flags: 'a' });
      child.stdout!.pipe(out);
      child.stderr!.pipe(out);
    }
    const keep = (d: Buffer) => {
      this.kept += d.toString();
      if (this.kept.length > KEPT_OUTPUT) this.kept = this.kept.slice(-KEPT_OUTPUT);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const env = { ...this.options.env, ...this.moreEnv };
    const servesMetrics = env['OPAL_METRICS_PORT'] !== undefined && Number(env['OPAL_METRICS_PORT']) >= 0;
    let err = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not start in 60 s:\n${err}`)), 60_000);
      const started = (d: Buffer) => {
        err += d.toString();
        const metrics = /opal: metrics at http:\/\/[^\s]*:(\d+)\/metrics/.exec(err);
        if (metrics) this.metricsPort = Number(metrics[1]);
        const listening = / listening on [^\s]*:(\d+) /.exec(err);
        if (listening && (metrics || !servesMetrics)) {
          this.port = Number(listening[1]);
          // Printed before the `listening on` line when the process serves it.
          const http = /opal: OpenAI-compatible API at https?:\/\/[^\s]*:(\d+)\/v1/.exec(err);
          if (http) this.httpPort = Number(http[1]);
          clearTimeout(timer);
          child.stderr!.off('data', started);
          resolve();
        }
      };
      child.stderr!.on('data', started);
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited with ${code}:\n${err}`));
      });
    });
    child.removeAllListeners('exit');
  }

  /** The end of what the process has written (its log at OPAL_LOG_LEVEL, and stderr), for a failure's message. */
  output(): string {
    return this.kept;
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

/** How much of each process's output a failure's message shows. */
const SHOWN_OUTPUT = 8 * 1024;

/**
 * Runs a test body; if it fails, the error's message gets the end of each named process's output,
 * so a failure in CI shows what the processes logged (warnings and errors at the default level).
 * The processes may be given as a function, for those started while the body runs.
 */
export async function withOutputOnFailure<T>(processes: Record<string, OpalProcess> | (() => Record<string, OpalProcess>), body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    const named = typeof processes === 'function' ? processes() : processes;
    const logs = Object.entries(named).map(([name, p]) => `--- ${name} (last output) ---\n${p.output().slice(-SHOWN_OUTPUT).trim() || '(nothing)'}`).join('\n');
    if (error instanceof Error) {
      // Reporters print the stack, which holds the message as it was made.
      const message = `${error.message}\n${logs}`;
      if (error.stack) error.stack = error.stack.replace(error.message, message);
      error.message = message;
      throw error;
    }
    throw new Error(`${String(error)}\n${logs}`);
  }
}
