import { readFileSync, writeFileSync } from 'node:fs';

// Worker threads live in this process, so the process's resident set covers main and workers.
// The kernel keeps its high-water mark (VmHWM); writing 5 to clear_refs resets it (Linux >= 4.0).
export function resetPeakRss(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

export function peakRssBytes(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : process.memoryUsage().rss;
}
