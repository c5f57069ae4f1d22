import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
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
 * at once cannot both take it); one left by a process that is gone is removed first (removeStale).
 * Returns the release.
 */
export function takeDataLock(dataDir: string): () => void {
  const lock = join(dataDir, 'LOCK');
  const me = JSON.stringify({ pid: process.pid, identity: identityOf(process.pid) });
  for (let attempt = 1; ; attempt++) {
    try {
      writeFileSync(lock, me, { flag: 'wx' });
      return () => {
        // Only our own: a lock is removed by another process only once its holder is gone.
        try {
          if (readText(lock) === me) rmSync(lock, { force: true });
        } catch {
          /* the folder is unreadable now: nothing of ours to remove */
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (attempt >= 100) throw new Error(`data folder ${dataDir}: its LOCK could not be taken in ${attempt} tries (processes starting on it at once, or one stuck removing a stale lock: see LOCK.break-* there)`);
    }
    const text = readText(lock);
    if (text === undefined) continue; // removed meanwhile: try again
    const holder = parse(text);
    if (holder && holds(holder)) throw new Error(`data folder ${dataDir} is in use by process ${holder.pid} (stop it, or set OPAL_DATA_DIR)`);
    // Gone, or not a lock this code wrote whole (a crash while writing it): stale.
    removeStale(lock, text, me);
  }
}

/**
 * Removes `file` if it still says `text`, a stale lock, and never a lock that replaced it: a lock
 * is removed only by the process that holds `<file>.break-<digest of text>` (created exclusively,
 * naming it as LOCK does), and a new lock is only ever created where none is. So of the processes
 * that found the same stale lock, one removes it and the others, finding its break file, try again
 * from the start; one that comes late finds another text and removes nothing. A break file whose
 * process died is stale in turn, and removed the same way. Returns whether `file` was removed.
 */
export function removeStale(file: string, text: string, me: string): boolean {
  const breaking = breakFileOf(file, text);
  try {
    writeFileSync(breaking, me, { flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const other = readText(breaking);
    if (other === undefined) return false; // done meanwhile
    const holder = parse(other);
    if (holder && holds(holder)) pause(5); // another process is removing it now
    else removeStale(breaking, other, me); // it died doing so
    return false;
  }
  try {
    // Whoever holds the break file alone removes a file saying `text`: it cannot change between
    // this read and the removal.
    if (readText(file) !== text) return false;
    rmSync(file, { force: true });
    return true;
  } finally {
    rmSync(breaking, { force: true });
  }
}

/** The file whose holder alone may remove `file` while it says `text`. */
export function breakFileOf(file: string, text: string): string {
  return `${file}.break-${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Blocks this thread for `ms` (the lock is taken at start, before anything else runs). */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
