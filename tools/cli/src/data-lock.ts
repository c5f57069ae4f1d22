import { linkSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** What a LOCK file says: the process holding the folder, and who that process is (see identityOf). */
type Holder = { readonly pid: number; readonly identity: string | undefined };

/**
 * Who process `pid` is, beyond its pid, which the system hands out again: the boot it runs in and the
 * time it started since then (Linux's /proc). Undefined where that cannot be told (another system,
 * no such process).
 */
export function identityOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after `pid (command)`, where the command may hold spaces and parentheses: the 22nd field
    // of the line, the start time, is the 20th of these.
    const startTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    return startTime ? `${boot}/${startTime}` : undefined;
  } catch {
    return undefined;
  }
}

/** The holder a LOCK file names: `{pid, identity}`, or a bare pid as files written before said it. */
function parse(text: string): Holder | undefined {
  try {
    const j = JSON.parse(text) as unknown;
    if (typeof j === 'number') return Number.isSafeInteger(j) && j > 0 ? { pid: j, identity: undefined } : undefined;
    const h = j as { pid?: unknown; identity?: unknown };
    if (typeof h.pid !== 'number' || !Number.isSafeInteger(h.pid) || h.pid <= 0) return undefined;
    return { pid: h.pid, identity: typeof h.identity === 'string' ? h.identity : undefined };
  } catch {
    return undefined;
  }
}

/**
 * Whether the holder still runs: its pid is a live process other than this one and, where both can
 * be told, the same process that took the lock, not another given its pid since (a container
 * restarted on the same volume counts from pid 1 again).
 */
function holds(holder: Holder): boolean {
  if (holder.pid === process.pid) return false;
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    // EPERM: a process of another user has that pid; alive, as far as this one can tell.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = identityOf(holder.pid);
  return holder.identity === undefined || now === undefined || now === holder.identity;
}

/**
 * Takes `<dataDir>/LOCK` for this process, refusing a folder another live process holds: two
 * writers would corrupt the log. The file is created only where none is (so two processes starting
 * at once cannot both take it); one left by a process that is gone is moved aside first. Returns the
 * release.
 */
export function takeDataLock(dataDir: string): () => void {
  const lock = join(dataDir, 'LOCK');
  const me = JSON.stringify({ pid: process.pid, identity: identityOf(process.pid) });
  for (let attempt = 1; ; attempt++) {
    try {
      writeFileSync(lock, me, { flag: 'wx' });
      return () => {
        // Only our own: a process that found ours stale (it is not) must not lose its lock to us.
        try {
          if (readFileSync(lock, 'utf8') === me) rmSync(lock, { force: true });
        } catch {
          /* gone already */
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 10) throw error;
    }
    let text: string;
    try {
      text = readFileSync(lock, 'utf8');
    } catch {
      continue; // removed meanwhile: try again
    }
    const holder = parse(text);
    if (holder && holds(holder)) throw new Error(`data folder ${dataDir} is in use by process ${holder.pid} (stop it, or set OPAL_DATA_DIR)`);
    // Gone, or not a lock this code wrote whole (a crash while writing it): stale. Moved aside, not
    // removed, so that a lock another process took meanwhile (it found the same stale one) can be
    // told by its text and put back, without ever replacing a lock that is there.
    const aside = `${lock}.${process.pid}.stale`;
    try {
      renameSync(lock, aside);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    if (readFileSync(aside, 'utf8') !== text) {
      try {
        linkSync(aside, lock);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    }
    rmSync(aside, { force: true });
  }
}
