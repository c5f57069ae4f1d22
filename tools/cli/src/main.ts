import { parseArgs } from 'node:util';
import { EmbeddedEventLog, exportLog, verifyExport } from '@opal/event-log';
import { loadConfig, ConfigError, type OpalConfig } from '@opal/service-runtime';
import { serviceNames, type ServiceName } from '@opal/contracts';
import { startNode } from './node.js';
import { KafkaEventLog } from '@opal/event-log-kafka';
import { isKafka, isMongo, kafkaOptions, openEventLog } from './backends.js';
import { readModels } from './read-models.js';
import { importLog } from './log-import.js';
import { replayFromLog } from './replay.js';
import { progressReporter } from './progress.js';
import { attributionVerify } from './attribution-verify.js';
import { exportContent, importContent } from './content-transfer.js';

const usage = `opal — proof-of-attribution ledger

usage:
  opal up                       run every service in this process (gRPC on OPAL_GRPC_HOST:OPAL_GRPC_PORT)
  opal serve <service>          run one service: ${serviceNames.join(', ')}
  opal log export --out FILE    write the event log as JSON lines, for auditors
  opal log verify FILE          check an exported log's hash chains and sequences
  opal log import FILE [--resume] --event-log kafka://host:port
                                load an exported log into an empty Kafka cluster (verified first;
                                stream ids, sequences and hashes are kept); --resume goes on with an
                                import that was interrupted (until then, nothing else connects)
  opal content export --out FILE
                                write the contents the log's contributions name (the log holds
                                only their hashes) from the content store, to move beside the log
  opal content import FILE      load exported contents into the content store (MongoDB with
                                --store, else the data folder), each checked against its hash
  opal log dead-letters [--json] --event-log kafka://host:port
                                list the events subscriptions set aside as poison, with the reason,
                                the subscription and where each sits in the log
  opal replay [--json] [--workers N] [--skip-dead-lettered]
                                rebuild every read model from the log and print the state digest;
                                on Kafka, --skip-dead-lettered leaves out of each read model the
                                events its live subscription set aside, as the live one did
  opal read-models [prune] [--json] --store mongodb://host:port/db
                                list every version of every read model in the store (documents,
                                events applied, processes running it on Kafka); prune drops the
                                versions other than this build's that no process runs
  opal attribution verify ID [--json]
                                recompute an inference's attribution receipt from the log and the
                                index files; exit 0 when it matches the logged one, 1 otherwise

options:
  --port N        gRPC port (OPAL_GRPC_PORT, default 50051)
  --metrics-port N
                  serve Prometheus metrics at http://OPAL_GRPC_HOST:N/metrics (OPAL_METRICS_PORT;
                  0 picks a free port; default -1, none)
  --data-dir DIR  data folder (OPAL_DATA_DIR, default .opal/data in the checkout)
  --event-log URI embedded (default) or kafka://host:port (OPAL_EVENT_LOG)
  --store URI     memory (default), mongodb://host:port/db or mongodb+srv://host/db (OPAL_STORE)
  log export, log import and replay read or write Kafka when --event-log is kafka://...
`;

async function serve(config: OpalConfig, names: readonly ServiceName[]): Promise<void> {
  const node = await startNode(config, names);
  // Before the `listening on` line, which says the process is ready: whoever waits for it has this one too.
  if (node.httpUrl) process.stderr.write(`opal: OpenAI-compatible API at ${node.httpUrl}/v1\n`);
  process.stderr.write(`opal: ${names.join(', ')} listening on ${node.url} (data in ${config.dataDir})\n`);
  if (node.metricsUrl) process.stderr.write(`opal: metrics at ${node.metricsUrl}\n`);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      // A second signal: no more waiting for the drain or the calls running.
      process.stderr.write(`opal: ${signal} again, exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    process.stderr.write(`opal: ${signal}, shutting down${config.shutdownDrainMs > 0 ? ` (draining for ${config.shutdownDrainMs} ms)` : ''}\n`);
    await node.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  // A read model that stopped would serve stale answers: exit non-zero so the supervisor restarts us.
  void node.failed.then(async ({ projection, error }) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`opal: ${projection} stopped (${error instanceof Error ? error.message : String(error)}), shutting down\n`);
    // Its answers would be stale: no drain, only the running calls' grace.
    await node.close({ drain: false }).catch(() => {});
    process.exit(1);
  });
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      json: { type: 'boolean' },
      port: { type: 'string' },
      'metrics-port': { type: 'string' },
      'data-dir': { type: 'string' },
      'event-log': { type: 'string' },
      store: { type: 'string' },
      workers: { type: 'string' },
      resume: { type: 'boolean' },
      'skip-dead-lettered': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, sub, arg] = positionals;
  if (values.help || !command) {
    process.stdout.write(usage);
    return command ? 0 : 2;
  }
  const env = { ...process.env };
  if (values.port) env['OPAL_GRPC_PORT'] = values.port;
  if (values['metrics-port']) env['OPAL_METRICS_PORT'] = values['metrics-port'];
  if (values['data-dir']) env['OPAL_DATA_DIR'] = values['data-dir'];
  if (values['event-log']) env['OPAL_EVENT_LOG'] = values['event-log'];
  if (values.store) env['OPAL_STORE'] = values.store;
  const config = loadConfig(env);

  switch (command) {
    case 'up':
      await serve(config, serviceNames);
      return -1;
    case 'serve': {
      if (!sub || !serviceNames.includes(sub as ServiceName)) throw new UsageError(`serve: name one service of ${serviceNames.join(', ')}`);
      await serve(config, [sub as ServiceName]);
      return -1;
    }
    case 'log': {
      if (sub === 'export') {
        if (!values.out) throw new UsageError('log export: --out FILE is required');
        const log = await openEventLog(config, true);
        const total = log instanceof EmbeddedEventLog ? log.length : (await log.stats()).events;
        const progress = progressReporter('exported');
        try {
          const r = await exportLog(log, values.out, (n) => progress.update(n, total));
          progress.finish();
          process.stdout.write(`exported ${r.events} events in ${r.streams} streams to ${values.out} (digest ${r.digest}, streams digest ${r.streamsDigest})\n`);
        } finally {
          await log.close();
        }
        return 0;
      }
      if (sub === 'verify') {
        if (!arg) throw new UsageError('log verify: give the exported FILE');
        const progress = progressReporter('verified');
        const r = await verifyExport(arg, (n) => progress.update(n));
        progress.finish();
        if (r.ok) {
          process.stdout.write(`ok: ${r.events} events in ${r.streams} streams; every hash chain and sequence verifies (digest ${r.digest}, streams digest ${r.streamsDigest})\n`);
          return 0;
        }
        process.stdout.write(`FAILED after ${r.events} good events: ${r.error}\n`);
        return 1;
      }
      if (sub === 'import') {
        if (!arg) throw new UsageError('log import: give the exported FILE');
        if (!isKafka(config)) throw new UsageError('log import: give the target with --event-log kafka://host:port');
        // The one process that connects to a log an import left incomplete, to complete it.
        const log = await KafkaEventLog.connect({ ...kafkaOptions(config), importing: true });
        const progress = progressReporter('imported');
        try {
          const r = await importLog(log, arg, (n) => progress.update(n), { resume: values.resume, mark: { begin: () => log.beginImport(), end: () => log.endImport() } });
          progress.finish();
          const held = r.skipped > 0 ? ` (${r.skipped} already there)` : '';
          process.stdout.write(`imported ${r.events} events${held} in ${r.streams} streams into ${config.eventLog}; hashes unchanged (digest ${r.digest}, streams digest ${r.streamsDigest})\n`);
          process.stdout.write('the log names its contributions\' contents by hash only: move them with `opal content export` and `opal content import`\n');
        } finally {
          await log.close();
        }
        return 0;
      }
      if (sub === 'dead-letters') {
        if (!isKafka(config)) throw new UsageError('log dead-letters: the embedded log retries a failing batch until it goes through and sets nothing aside; give --event-log kafka://host:port');
        const log = await KafkaEventLog.connect(kafkaOptions(config));
        try {
          const records = await log.deadLetters();
          for (const r of records) {
            const e = r.event;
            const line = { at: r.at, source: r.source, subscription: r.subscription, attempts: r.attempts, reason: r.reason, stream: e.streamId, seq: e.streamSeq, type: e.type, eventId: e.eventId };
            process.stdout.write(values.json ? `${JSON.stringify(line)}\n` : `${r.source}  ${r.subscription}  ${e.streamId}#${e.streamSeq} ${e.type}: ${r.reason}\n`);
          }
          if (!values.json) process.stdout.write(`${records.length} dead-lettered event(s) in ${log.topicNames().deadLetter}\n`);
        } finally {
          await log.close();
        }
        return 0;
      }
      throw new UsageError('log: export, verify, import or dead-letters');
    }
    case 'content': {
      if (sub === 'export') {
        if (!values.out) throw new UsageError('content export: --out FILE is required');
        const progress = progressReporter('exported');
        const r = await exportContent(config, values.out, (n, total) => progress.update(n, total));
        progress.finish();
        if (r.missing.length > 0) {
          const shown = r.missing.slice(0, 5).join(', ');
          process.stderr.write(`opal: content export: ${r.missing.length} content(s) the log names are not in the content store (${shown}${r.missing.length > 5 ? ', ...' : ''}); nothing was written (is --store, or --data-dir, the one the platform ran with?)\n`);
          return 1;
        }
        process.stdout.write(`exported ${r.contents} contents (${r.bytes} bytes) to ${values.out}\n`);
        return 0;
      }
      if (sub === 'import') {
        if (!arg) throw new UsageError('content import: give the exported FILE');
        const progress = progressReporter('imported');
        const r = await importContent(config, arg, (n) => progress.update(n));
        progress.finish();
        // The URL without a user and password it may hold.
        const into = isMongo(config) ? config.store.replace(/\/\/[^@/]*@/, '//') : `${config.dataDir} (content pack)`;
        process.stdout.write(`imported ${r.contents} contents (${r.bytes} bytes) into ${into}; each matched its hash\n`);
        return 0;
      }
      throw new UsageError('content: export or import');
    }
    case 'replay': {
      const progress = progressReporter('replayed');
      const workers = values.workers ? Number(values.workers) : undefined;
      const skipDeadLettered = values['skip-dead-lettered'] ?? false;
      if (skipDeadLettered && !isKafka(config)) throw new UsageError('replay: --skip-dead-lettered is for a Kafka log; the embedded log retries a failing batch until it goes through and sets nothing aside');
      const r = await replayFromLog(config, { workers, skipDeadLettered, onProgress: (done, total) => progress.update(done, total) });
      progress.finish();
      if (values.json) {
        process.stdout.write(JSON.stringify(r) + '\n');
      } else {
        for (const p of r.projections) process.stdout.write(`${p.projection.padEnd(24)} v${p.version}  ${p.digest}  ${p.documents} documents\n`);
        if (r.leftOut) {
          for (const e of r.leftOut) process.stdout.write(`left out of ${e.projection}: ${e.event}, set aside (${e.deadLetter}): ${e.reason}\n`);
          process.stdout.write(`${r.leftOut.length} event(s) left out as the live subscriptions set them aside\n`);
        }
        const rate = r.seconds > 0 ? Math.round(r.events / r.seconds) : r.events;
        process.stdout.write(`replayed ${r.events} events in ${r.seconds.toFixed(2)} s (${rate} events/s)\nstate digest ${r.digest}\n`);
      }
      return 0;
    }
    case 'read-models': {
      if (sub !== undefined && sub !== 'prune') throw new UsageError('read-models: nothing, or prune');
      if (!isMongo(config)) throw new UsageError('read-models: the memory store holds one version of each read model (it loads no snapshot of another); give --store mongodb://host:port/db');
      return readModels(config, sub === 'prune', values.json ?? false, (s) => process.stdout.write(s));
    }
    case 'attribution': {
      if (sub !== 'verify') throw new UsageError('attribution: verify INFERENCE_ID');
      if (!arg) throw new UsageError('attribution verify: give the inference id');
      return attributionVerify(config, arg, values.json ?? false, (s) => process.stdout.write(s));
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

export class UsageError extends Error {}

export async function run(argv: string[]): Promise<void> {
  try {
    const code = await main(argv);
    if (code >= 0) process.exit(code);
  } catch (error) {
    if (error instanceof UsageError || error instanceof ConfigError) {
      process.stderr.write(`opal: ${error.message}\n\n${usage}`);
      process.exit(2);
    }
    process.stderr.write(`opal: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}
