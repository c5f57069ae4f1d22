/** Progress on stderr for long runs: quiet for the first second, then at most twice a second. */
export function progressReporter(label: string): { update(done: number, total?: number): void; finish(): void } {
  const started = Date.now();
  let last = 0;
  let shown = false;
  return {
    update(done, total) {
      const now = Date.now();
      if (now - started < 1000 || now - last < 500) return;
      last = now;
      shown = true;
      const rate = Math.round(done / ((now - started) / 1000));
      const of = total ? ` / ${total.toLocaleString('en-US')} (${Math.floor((done * 100) / Math.max(total, 1))}%)` : '';
      process.stderr.write(`\r${label}: ${done.toLocaleString('en-US')}${of} events, ${rate.toLocaleString('en-US')}/s   `);
    },
    finish() {
      if (shown) process.stderr.write('\n');
    },
  };
}
