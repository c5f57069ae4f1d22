
export type Measurement = {
  readonly metric: string;
  readonly value: number;
  readonly unit: string;
  readonly params?: Readonly<Record<string, string | number | boolean>>;
};

export type BenchContext = {
  /** Suite options after the suite name, e.g. --events 200000. */
  readonly options: Readonly<Record<string, string | boolean | undefined>>;
  report(m: Measurement): void;
  /** Progress for long runs; goes to stderr so --json output stays clean. */
  progress(message: string): void;
};

export type BenchSuite = (ctx: BenchContext) => Promise<void>;

/** Runs one suite; prints a table, or with --json one JSON object per measurement. */
export async function runSuite(suite: string, run: BenchSuite, argv: string[]): Promise<void> {
  const values = parseOptions(argv);
  const json = values['json'] === true;
  const rows: Measurement[] = [];
  const ctx: BenchContext = {
    options: values as Record<string, string | boolean | undefined>,
    report(m) {
      rows.push(m);
      if (json) process.stdout.write(JSON.stringify({ suite, metric: m.metric, value: m.value, unit: m.unit, params: m.params ?? {} }) + '\n');
    },
    progress(message) {
      process.stderr.write(`[${suite}] ${message}\n`);
    },
  };
  await run(ctx);
  if (!json) {
    const fmt = (v: number) => (Number.isInteger(v) ? v.toLocaleString('en-US') : v.toLocaleString('en-US', { maximumFractionDigits: 3 }));
    const lines = rows.map((r) => [r.metric, fmt(r.value), r.unit, Object.entries(r.params ?? {}).map(([k, v]) => `${k}=${v}`).join(' ')]);
    const head = ['metric', 'value', 'unit', 'params'];
    const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
    const line = (cols: string[]) => cols.map((c, i) => (i === 1 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
    console.log(`suite: ${suite}`);
    console.log(line(head));
    console.log(widths.map((w) => '-'.repeat(w)).join('  '));
    for (const l of lines) console.log(line(l));
  }
}

/** `--flag` is true; `--key value` and `--key=value` give the value (suites declare no schema). */
export function parseOptions(argv: readonly string[]): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) continue;
    const eq = a.indexOf('=');
    if (eq > 0) out[a.slice(2, eq)] = a.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) out[a.slice(2)] = argv[++i]!;
    else out[a.slice(2)] = true;
  }
  return out;
}

/** A whole-number option given as --name=N, at least `min`; `fallback` when absent. */
export function intOption(ctx: BenchContext, name: string, fallback: number, min = 1): number {
  const raw = ctx.options[name];
  if (raw === undefined) return fallback;
  // Options are parsed without a schema: `--events 200` arrives as a value, a bare `--events` as a flag.
  const n = Number(raw);
  if (typeof raw !== 'string' || !Number.isInteger(n) || n < min) throw new Error(`--${name}: give a whole number of at least ${min} as --${name}=N`);
  return n;
}
