import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

// CPU time spent by each process of a measurement: this one (all its threads) and the local
// servers it talks to, found by the port they listen on. Linux only (/proc); elsewhere, and for a
// server this machine does not run (a remote broker, a container), the server is left out.

const LISTEN = '0A';

/** The pid of the local process listening on `port` (TCP, IPv4 or IPv6), if this machine shows one. */
export function listenerPid(port: number): number | undefined {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== LISTEN) continue;
      if (parseInt(cols[1]!.slice(cols[1]!.lastIndexOf(':') + 1), 16) === port) inodes.add(cols[9]!);
    }
  }
  if (inodes.size === 0) return undefined;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue; // gone, or not ours to read
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${entry}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m && inodes.has(m[1]!)) return Number(entry);
    }
  }
  return undefined;
}

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** User plus system CPU milliseconds a process has used so far (all its threads). */
export function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces and parentheses: fields are counted after its closing one.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / clockTicks();
}

/** CPU milliseconds by process between start() and stop(): 'node' is this process, the rest are servers by name. */
export class CpuMeter {
  private readonly pids = new Map<string, number>();
  private startNode = process.cpuUsage();
  private readonly startServer = new Map<string, number>();

  /** `servers`: name to listening port; those with no local process are left out of the reading. */
  constructor(servers: Readonly<Record<string, number | undefined>>) {
    for (const [name, port] of Object.entries(servers)) {
      const pid = port === undefined ? undefined : listenerPid(port);
      if (pid !== undefined && pid !== process.pid) this.pids.set(name, pid);
    }
  }

  /** Names of the servers measured besides this process. */
  get servers(): string[] {
    return [...this.pids.keys()];
  }

  start(): void {
    this.startNode = process.cpuUsage();
    for (const [name, pid] of this.pids) this.startServer.set(name, processCpuMs(pid));
  }

  stop(): Record<string, number> {
    const node = process.cpuUsage(this.startNode);
    const out: Record<string, number> = { node: (node.user + node.system) / 1000 };
    for (const [name, pid] of this.pids) out[name] = processCpuMs(pid) - this.startServer.get(name)!;
    return out;
  }
}

/** The port of the first `host:port` in a broker list, or of a mongodb:// URL (27017 when it names none). */
export function portOf(address: string): number | undefined {
  const m = /^(?:mongodb:\/\/)?(?:[^@/]*@)?[^:/,]+:(\d+)/.exec(address);
  if (m) return Number(m[1]);
  return address.startsWith('mongodb://') ? 27017 : undefined;
}
