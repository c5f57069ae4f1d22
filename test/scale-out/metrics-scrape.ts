/** The Prometheus text a process serves on 127.0.0.1:port/metrics. */
export async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (!res.ok) throw new Error(`GET /metrics: ${res.status} ${await res.text()}`);
  return res.text();
}

/** The value of one series (name and exactly these labels), or undefined when the text has none. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(',');
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = (m[2] ?? '').split(',').filter(Boolean).sort().join(',');
    if (got === wanted) return Number(m[3]);
  }
  return undefined;
}

/** Events this process has applied to the read model `projection` (opal_projection_events_applied_total). */
export async function appliedBy(port: number, projection: string): Promise<number> {
  return sample(await scrape(port), 'opal_projection_events_applied_total', { projection }) ?? 0;
}

/** Resolves once the process has applied at least `atLeast` events to `projection`, asked every 25 ms. */
export async function untilApplied(port: number, projection: string, atLeast: number, timeoutMs = 180_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; (await appliedBy(port, projection)) < atLeast; ) {
    if (Date.now() > deadline) throw new Error(`${projection}: fewer than ${atLeast} events applied after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
