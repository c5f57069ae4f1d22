// The Helm chart (deploy/helm/opal) against the code it deploys: rendered by a real helm, each
// Deployment's command run with the environment the chart gives it, over Kafka with TLS and a SASL
// user (the chart's kafkaTls Secret and existingSecret) and MongoDB, and every pod's probes, ports
// and the alert rules' metrics checked on the running processes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Metadata, status } from '@grpc/grpc-js';
import { parseAllDocuments } from 'yaml';
import { CONFIG_VARIABLES, LIVENESS_HEALTH_NAME, loadConfig } from '@opal/service-runtime';
import { INFERENCE_CONFIG_VARIABLES, loadInferenceConfig } from '@opal/inference';
import { deleteTopics, ensureInfra, ensureTool, dropDb } from '@opal/test-infra';
import { OpalProcess, call, freePort, grpcClient, healthStatus, servingStatus, makeTestCertificates, repoRoot, wallet } from '@opal/testkit';
import { scrape } from './scale-out/metrics-scrape.js';

const run = promisify(execFile);
const CHART = join(repoRoot, 'deploy', 'helm', 'opal');
const SERVICES = ['attribution', 'governance', 'inference', 'ingest', 'settlement'];
// The chart mounts its kafkaTls Secret here and points OPAL_KAFKA_TLS_* into it.
const TLS_MOUNT = '/etc/opal/kafka-tls';
// And its grpcTls Secret here, pointing OPAL_GRPC_TLS_* into it.
const GRPC_TLS_MOUNT = '/etc/opal/grpc-tls';
// And its storeTls Secret here, pointing OPAL_STORE_TLS_* into it.
const STORE_TLS_MOUNT = '/etc/opal/store-tls';
const ADMIN_TOKEN = 'helm-admin-token-0123456789abcdef';

const tool = await ensureTool('helm');
const promtool = await ensureTool('promtool');
const infra = await ensureInfra(['kafka', 'mongo']);
const secure = infra.skipped ? undefined : infra.endpoints.kafkaSecure;
const secureMongo = infra.skipped ? undefined : infra.endpoints.mongoSecure;
const skipRun = infra.skipped ? infra.reason : secure ? false : `no TLS listener among the ${infra.mode} servers`;

type Manifest = { kind: string; metadata: { name: string }; spec: any };
type Container = { name: string; args: string[]; env: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[]; envFrom?: unknown[]; ports: { name: string; containerPort: number }[]; [k: string]: any };

async function helm(...args: string[]): Promise<string> {
  const { stdout } = await run(tool.skipped ? 'helm' : tool.path, args, { maxBuffer: 16 << 20 });
  return stdout;
}

async function render(...sets: string[]): Promise<Manifest[]> {
  const text = await helm('template', 'opal', CHART, ...sets.flatMap((s) => ['--set', s]));
  return parseAllDocuments(text)
    .map((d) => d.toJSON() as Manifest | null)
    .filter((m): m is Manifest => m !== null);
}

const of = (ms: Manifest[], kind: string) => ms.filter((m) => m.kind === kind);
const containerOf = (d: Manifest): Container => d.spec.template.spec.containers[0];
/** The container's env entries with a value (those from the pod's fields are checked apart). */
const envOf = (c: Container): Record<string, string> => Object.fromEntries(c.env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
const portOf = (c: Container, name: string) => c.ports.find((p) => p.name === name)?.containerPort;

/** GET on loopback, over HTTPS trusting `ca` (checking the name opal.test) when given. */
function httpGet(port: number, path: string, ca?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const done = (res: IncomingMessage) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    };
    const req = ca ? httpsRequest({ host: '127.0.0.1', port, path, ca, servername: 'opal.test' }, done) : httpRequest({ host: '127.0.0.1', port, path }, done);
    req.on('error', reject).end();
  });
}

describe('the Helm chart', { skip: tool.skipped ? tool.reason : false, timeout: 600_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'opal-helm-'));
  const prefix = `helm-${process.pid}-${Date.now()}.`;
  const mongoUrl = infra.skipped ? '' : `${infra.endpoints.mongoUrl!.replace(/\/[^/]*$/, '')}/opal_helm_${process.pid}`;
  const processes: OpalProcess[] = [];
  after(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    if (!infra.skipped) {
      await deleteTopics(infra.endpoints.kafkaBrokers!, prefix).catch(() => {});
      await dropDb(mongoUrl).catch(() => {});
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('lints clean (strict) with its defaults and with every option on', async () => {
    await helm('lint', '--strict', CHART);
    await helm('lint', '--strict', CHART, '--set', 'existingSecret=opal-secrets,kafkaTls.secret=kafka-ca,kafkaTls.clientCertificate=true,storeTls.secret=mongo-tls,storeTls.clientCertificate=true,grpcTls.secret=opal-grpc-tls,grpcTls.serverName=opal.internal,grpcTls.clientCertificates=true,monitoring.serviceMonitor.enabled=true,monitoring.prometheusRule.enabled=true,services.ingest.dataVolume.size=20Gi,services.ingest.dataVolume.storageClassName=fast');
  });

  it('with grpcTls, mounts its Secret, points the gRPC TLS variables into it, and probes plain HTTP beside the TLS port', async () => {
    const ms = await render('grpcTls.secret=opal-grpc-tls', 'grpcTls.serverName=opal.internal', 'grpcTls.clientCertificates=true');
    for (const d of of(ms, 'Deployment')) {
      const c = containerOf(d);
      const env = envOf(c);
      assert.deepEqual(
        [env['OPAL_GRPC_TLS_CERT_FILE'], env['OPAL_GRPC_TLS_KEY_FILE'], env['OPAL_GRPC_TLS_CA_FILE'], env['OPAL_GRPC_TLS_CLIENT_CA_FILE'], env['OPAL_GRPC_TLS_SERVER_NAME']],
        [`${GRPC_TLS_MOUNT}/tls.crt`, `${GRPC_TLS_MOUNT}/tls.key`, `${GRPC_TLS_MOUNT}/ca.crt`, `${GRPC_TLS_MOUNT}/ca.crt`, 'opal.internal'],
      );
      assert.deepEqual([env['OPAL_HTTP_TLS_CERT_FILE'], env['OPAL_HTTP_TLS_KEY_FILE']], c.name === 'inference' ? [`${GRPC_TLS_MOUNT}/tls.crt`, `${GRPC_TLS_MOUNT}/tls.key`] : [undefined, undefined], `${c.name}: HTTPS where it serves HTTP`);
      assert.ok(c.volumeMounts.some((v: { name: string; mountPath: string }) => v.name === 'grpc-tls' && v.mountPath === GRPC_TLS_MOUNT));
      assert.equal(d.spec.template.spec.volumes.find((v: { name: string }) => v.name === 'grpc-tls').secret.secretName, 'opal-grpc-tls');
      assert.deepEqual(
        ['startupProbe', 'readinessProbe', 'livenessProbe'].map((p) => [c[p].grpc, c[p].httpGet?.port, c[p].httpGet?.path]),
        [[undefined, 'metrics', '/livez'], [undefined, 'metrics', '/readyz'], [undefined, 'metrics', '/livez']],
        c.name,
      );
    }
    await assert.rejects(render('grpcTls.secret=x', 'env.OPAL_METRICS_PORT=-1'), /grpcTls.secret: the probes go to \/livez and \/readyz on the metrics port/);
    // Pods of their own share only the log and the store: neither may be the in-process one.
    await assert.rejects(render('env.OPAL_STORE=memory'), /env.OPAL_STORE: each service runs in pods of its own.*not memory/);
    await assert.rejects(render('env.OPAL_EVENT_LOG=embedded'), /env.OPAL_EVENT_LOG: each service runs in pods of its own.*not embedded/);
  });

  it('runs a service given a data volume as a StatefulSet, each replica keeping its own (and its Kafka index) across pod replacements', async () => {
    const ms = await render('services.ingest.dataVolume.size=20Gi', 'services.ingest.dataVolume.storageClassName=fast', 'kafkaTls.secret=kafka-ca');
    const [ingest, ...others] = of(ms, 'StatefulSet');
    assert.equal(others.length, 0);
    assert.equal(ingest!.metadata.name, 'opal-ingest');
    assert.deepEqual(of(ms, 'Deployment').map((d) => containerOf(d).name).sort(), SERVICES.filter((s) => s !== 'ingest'));
    assert.equal(ingest!.spec.serviceName, 'opal-ingest');
    assert.equal(ingest!.spec.podManagementPolicy, 'Parallel');
    assert.deepEqual(ingest!.spec.volumeClaimTemplates, [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '20Gi' } }, storageClassName: 'fast' } }]);
    const c = containerOf(ingest!);
    const env = envOf(c);
    assert.equal(env['OPAL_KAFKA_INDEX_PERSIST'], 'true');
    assert.ok(c.volumeMounts.some((v: { name: string; mountPath: string }) => v.name === 'data' && v.mountPath === env['OPAL_DATA_DIR']), 'the claim is the data folder');
    assert.deepEqual(ingest!.spec.template.spec.volumes.map((v: { name: string }) => v.name), ['kafka-tls'], 'no emptyDir beside the claim');
    const hpa = of(ms, 'HorizontalPodAutoscaler').find((h) => h.metadata.name === 'opal-ingest')!;
    assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'opal-ingest' });
    // Without one, every service is a Deployment with an emptyDir.
    for (const d of of(await render(), 'Deployment')) assert.ok(d.spec.template.spec.volumes.some((v: { name: string; emptyDir?: unknown }) => v.name === 'data' && v.emptyDir));
  });

  it('has alerting rules promtool accepts, which fire as their thresholds and durations say', { skip: promtool.skipped ? promtool.reason : false }, async () => {
    const rule = of(await render('monitoring.prometheusRule.enabled=true'), 'PrometheusRule')[0]!;
    const rules = join(dir, 'rules.json');
    writeFileSync(rules, JSON.stringify(rule.spec));
    const path = promtool.skipped ? 'promtool' : promtool.path;
    await run(path, ['check', 'rules', rules]);
    const alerts = new Map<string, { labels: Record<string, string>; annotations: Record<string, string> }>(
      rule.spec.groups.flatMap((g: { rules: { alert: string; labels: Record<string, string>; annotations: Record<string, string> }[] }) => g.rules.map((r) => [r.alert, r])),
    );
    // An alert as Alertmanager would get it: its labels, those of the series, and its annotations with their values filled in.
    const firing = (alert: string, labels: Record<string, string>, value: string) => {
      const r = alerts.get(alert)!;
      const fill = (t: string) => t.replace(/\{\{ \$labels\.(\w+) \}\}/g, (_, l: string) => labels[l] ?? '').replace(/\{\{ \$value( \| humanize(Duration)?)? \}\}/g, value);
      return { exp_labels: { ...r.labels, ...labels }, exp_annotations: Object.fromEntries(Object.entries(r.annotations).map(([k, v]) => [k, fill(v)])) };
    };
    const tests = join(dir, 'rules.test.json');
    writeFileSync(
      tests,
      JSON.stringify({
        rule_files: [rules],
        evaluation_interval: '1m',
        tests: [
          {
            interval: '1m',
            input_series: [
              // Pod a drops 3 Datanets a minute (its budget is too small); pod b one every two minutes.
              { series: 'opal_aggregate_cache_dropped_total{cache="datanets",pod="ingest-a"}', values: '0+3x60' },
              { series: 'opal_aggregate_cache_dropped_total{cache="datanets",pod="ingest-b"}', values: '0+0.5x60' },
              // Two replicas report a read model's lag: the larger one counts.
              { series: 'opal_projection_lag_records{projection="ingest.contributions",pod="ingest-a"}', values: '20000x60' },
              { series: 'opal_projection_lag_records{projection="ingest.contributions",pod="ingest-b"}', values: '0x60' },
              { series: 'opal_projection_lag_records{projection="ingest.catalog",pod="ingest-a"}', values: '500x60' },
              // Pod a cannot reach the owners of 5 commands a minute for good; pod b for 3 minutes (an owner replaced).
              { series: 'opal_commands_forwarded_total{grpc_method="SubmitContributions",outcome="owner_not_connected",pod="ingest-a"}', values: '0+5x60' },
              { series: 'opal_commands_forwarded_total{grpc_method="SubmitContributions",outcome="owner_not_connected",pod="ingest-b"}', values: '0+40x3 120x57' },
              // Pod a serves a certificate with 10 days left at the start (a minute gone each minute); pod b renewed (a year left).
              { series: 'opal_tls_certificate_expiry_timestamp_seconds{port="grpc",pod="ingest-a"}', values: `${10 * 86400}x60` },
              { series: 'opal_tls_certificate_expiry_timestamp_seconds{port="grpc",pod="ingest-b"}', values: `${365 * 86400}x60` },
              // Someone sets a topic's retention at minute 30; both pods see it at their next check.
              { series: 'opal_event_log_retention_problems{pod="ingest-a"}', values: '0x30 1x30' },
              { series: 'opal_event_log_retention_problems{pod="ingest-b"}', values: '0x31 1x29' },
              // Pod a refuses the files it reads at minute 20 (once), pod b never.
              { series: 'opal_tls_reloads_total{port="grpc",outcome="refused",pod="ingest-a"}', values: '0x20 1x40' },
              { series: 'opal_tls_reloads_total{port="grpc",outcome="refused",pod="ingest-b"}', values: '0x60' },
            ],
            alert_rule_test: [
              { eval_time: '10m', alertname: 'OpalWriteModelsDropped', exp_alerts: [] },
              { eval_time: '40m', alertname: 'OpalWriteModelsDropped', exp_alerts: [firing('OpalWriteModelsDropped', { pod: 'ingest-a', cache: 'datanets' }, '3')] },
              { eval_time: '5m', alertname: 'OpalReadModelLagging', exp_alerts: [] },
              { eval_time: '30m', alertname: 'OpalReadModelLagging', exp_alerts: [firing('OpalReadModelLagging', { projection: 'ingest.contributions' }, '20000')] },
              { eval_time: '8m', alertname: 'OpalCommandOwnerNotConnected', exp_alerts: [] },
              { eval_time: '30m', alertname: 'OpalCommandOwnerNotConnected', exp_alerts: [firing('OpalCommandOwnerNotConnected', { pod: 'ingest-a' }, '5')] },
              { eval_time: '29m', alertname: 'OpalEventLogNotKeepingEvents', exp_alerts: [] },
              { eval_time: '31m', alertname: 'OpalEventLogNotKeepingEvents', exp_alerts: [firing('OpalEventLogNotKeepingEvents', {}, '1')] },
              { eval_time: '5m', alertname: 'OpalTlsCertificateExpiring', exp_alerts: [] },
              { eval_time: '15m', alertname: 'OpalTlsCertificateExpiring', exp_alerts: [firing('OpalTlsCertificateExpiring', { pod: 'ingest-a', port: 'grpc' }, '9d 23h 45m 0s')] },
              { eval_time: '19m', alertname: 'OpalTlsReloadRefused', exp_alerts: [] },
              { eval_time: '25m', alertname: 'OpalTlsReloadRefused', exp_alerts: [firing('OpalTlsReloadRefused', { pod: 'ingest-a', port: 'grpc' }, '1')] },
              { eval_time: '50m', alertname: 'OpalTlsReloadRefused', exp_alerts: [] },
            ],
          },
        ],
      }),
    );
    await run(path, ['test', 'rules', tests]);
  });

  it('gives each service a Deployment whose environment the services read, by name and by value', async () => {
    const ms = await render();
    const deployments = of(ms, 'Deployment');
    assert.deepEqual(deployments.map((d) => containerOf(d).name).sort(), SERVICES);
    const known = new Set([...CONFIG_VARIABLES, ...INFERENCE_CONFIG_VARIABLES, 'GLIBC_TUNABLES']);
    for (const d of deployments) {
      const c = containerOf(d);
      const env = envOf(c);
      assert.deepEqual(c.args, ['serve', c.name], `${c.name}: the image's entrypoint is the opal CLI`);
      assert.deepEqual(Object.keys(env).filter((k) => !known.has(k)), [], `${c.name}: variables no service reads`);
      const config = loadConfig(env);
      assert.equal(config.eventLog, 'kafka://kafka:9092');
      assert.equal(config.grpcHost, '0.0.0.0', `${c.name}: listens beyond the pod's loopback`);
      if (c.name === 'inference') assert.equal(loadInferenceConfig(env).httpHost, '0.0.0.0');
      // The ports the pod and its Service name are the ones the process listens on.
      assert.equal(portOf(c, 'grpc'), config.grpcPort);
      assert.equal(portOf(c, 'metrics'), config.metricsPort);
      assert.equal(portOf(c, 'http'), c.name === 'inference' ? loadInferenceConfig(env).httpPort : undefined);
      for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) assert.equal(c[probe].grpc.port, config.grpcPort, `${c.name} ${probe}`);
      // Ready once the read models have applied the log; live (and started) whatever they are at.
      assert.deepEqual(['startupProbe', 'readinessProbe', 'livenessProbe'].map((p) => c[p].grpc.service), [LIVENESS_HEALTH_NAME, '', LIVENESS_HEALTH_NAME], c.name);
      // After SIGTERM the pod drains (endpoints drop it, readiness fails, it still serves) and lets
      // running calls finish; Kubernetes must not kill it before both and the close are done.
      assert.ok(config.shutdownDrainMs >= c.readinessProbe.periodSeconds * 1000, `${c.name}: the drain outlasts a readiness period`);
      assert.ok(d.spec.template.spec.terminationGracePeriodSeconds * 1000 >= config.shutdownDrainMs + config.shutdownGraceMs + 10_000, `${c.name}: the termination grace covers drain, grace and close`);
      const service = of(ms, 'Service').find((s) => s.metadata.name === d.metadata.name)!;
      for (const p of service.spec.ports) assert.ok(portOf(c, p.targetPort), `${c.name}: Service port ${p.name} targets a port of the pod`);
      assert.equal(c.envFrom, undefined);
    }
    // Disruption budgets and autoscalers only where a service runs more than one replica.
    const multi = deployments.filter((d) => d.spec.replicas > 1).map((d) => containerOf(d).name).sort();
    assert.deepEqual(of(ms, 'PodDisruptionBudget').map((p) => p.metadata.name.replace('opal-', '')).sort(), multi);
    assert.deepEqual(of(ms, 'HorizontalPodAutoscaler').map((p) => p.metadata.name.replace('opal-', '')).sort(), ['attribution', 'ingest']);
  });

  it('runs every Deployment as rendered, over Kafka with TLS and SASL and MongoDB with mutual TLS, its gRPC port on mutual TLS: each pod answers its probes, and the alerts\' metrics are there', { skip: skipRun }, async () => {
    // OPAL_STORE left empty, so existingSecret gives it (with the database's credentials, say).
    // TLS on the gRPC ports too, with client certificates, where openssl can make them.
    const certDir = join(dir, 'certs');
    mkdirSync(certDir);
    const certs = await makeTestCertificates(certDir, 'opal.test');
    const grpcTls = certs ? ['grpcTls.secret=opal-grpc-tls', 'grpcTls.serverName=opal.test', 'grpcTls.clientCertificates=true'] : [];
    const clientTls = certs && { ca: readFileSync(certs.ca, 'utf8'), cert: readFileSync(certs.client.cert, 'utf8'), key: readFileSync(certs.client.key, 'utf8'), serverName: 'opal.test' };
    // MongoDB over mutual TLS too, where the local server has its TLS listener.
    const storeTls = secureMongo ? ['storeTls.secret=mongo-tls', 'storeTls.clientCertificate=true'] : [];
    const ms = await render('existingSecret=opal-secrets', 'env.OPAL_STORE=', 'kafkaTls.secret=kafka-ca', 'monitoring.prometheusRule.enabled=true', ...grpcTls, ...storeTls);
    // What the kafkaTls and grpcTls Secrets would hold, where the chart mounts them; what
    // existingSecret would give (a pod's env entries win over its envFrom, as here).
    const mount = join(dir, 'kafka-tls');
    mkdirSync(mount);
    copyFileSync(secure!.caFile, join(mount, 'ca.crt'));
    const grpcMount = join(dir, 'grpc-tls');
    mkdirSync(grpcMount);
    if (certs) {
      copyFileSync(certs.server.cert, join(grpcMount, 'tls.crt'));
      copyFileSync(certs.server.key, join(grpcMount, 'tls.key'));
      copyFileSync(certs.ca, join(grpcMount, 'ca.crt'));
    }
    const storeMount = join(dir, 'store-tls');
    mkdirSync(storeMount);
    if (secureMongo) {
      copyFileSync(secureMongo.caFile, join(storeMount, 'ca.crt'));
      copyFileSync(secureMongo.certFile, join(storeMount, 'tls.crt'));
      copyFileSync(secureMongo.keyFile, join(storeMount, 'tls.key'));
    }
    const mounts: [string, string][] = [[TLS_MOUNT, mount], [GRPC_TLS_MOUNT, grpcMount], [STORE_TLS_MOUNT, storeMount]];
    const mapped = (v: string) => {
      const m = mounts.find(([at]) => v.startsWith(`${at}/`));
      return m ? join(m[1], v.slice(m[0].length + 1)) : v;
    };
    // The TLS listener's address, naming no files: the chart's storeTls gives them.
    const storeUrl = secureMongo ? `mongodb://${new URL(secureMongo.url).host}/${new URL(mongoUrl).pathname.slice(1)}` : mongoUrl;
    const fromSecret = { OPAL_STORE: storeUrl, OPAL_KAFKA_SASL_MECHANISM: 'scram-sha-512', OPAL_KAFKA_SASL_USERNAME: secure!.username, OPAL_KAFKA_SASL_PASSWORD: secure!.password, OPAL_ADMIN_TOKEN: ADMIN_TOKEN };
    const started = await Promise.all(
      of(ms, 'Deployment').map(async (d) => {
        const c = containerOf(d);
        assert.deepEqual(c.envFrom, [{ secretRef: { name: 'opal-secrets' } }]);
        assert.ok(c.volumeMounts.some((v: { name: string; mountPath: string }) => v.name === 'kafka-tls' && v.mountPath === TLS_MOUNT));
        assert.equal(d.spec.template.spec.volumes.find((v: { name: string }) => v.name === 'kafka-tls').secret.secretName, 'kafka-ca');
        const env: Record<string, string> = { ...fromSecret };
        for (const [k, v] of Object.entries(envOf(c))) env[k] = mapped(v);
        assert.equal(env['OPAL_KAFKA_TLS_CA_FILE'], join(mount, 'ca.crt'));
        assert.equal(env['OPAL_STORE'], storeUrl, 'an empty value is left out of the env, so the Secret\'s counts');
        if (secureMongo) {
          assert.deepEqual([env['OPAL_STORE_TLS_CA_FILE'], env['OPAL_STORE_TLS_CERT_FILE'], env['OPAL_STORE_TLS_KEY_FILE']], ['ca.crt', 'tls.crt', 'tls.key'].map((f) => join(storeMount, f)));
          assert.equal(d.spec.template.spec.volumes.find((v: { name: string }) => v.name === 'store-tls').secret.secretName, 'mongo-tls');
        }
        // Ingest's replicas route commands to each other at their pods' IPs; the others take every command they get.
        const advertised = c.env.find((e) => e.name === 'OPAL_ADVERTISE_HOST');
        assert.equal(advertised?.valueFrom?.fieldRef?.fieldPath, c.name === 'ingest' ? 'status.podIP' : undefined, c.name);
        // Only where this machine differs from a cluster: its servers, loopback and free ports, one broker.
        const ports = { grpc: await freePort(), http: await freePort() };
        Object.assign(env, {
          OPAL_EVENT_LOG: `kafka://${secure!.brokers}`,
          OPAL_KAFKA_TOPIC_PREFIX: prefix,
          OPAL_KAFKA_REPLICATION_FACTOR: '1',
          OPAL_GRPC_HOST: '127.0.0.1',
          OPAL_GRPC_PORT: String(ports.grpc),
          // A free port it binds itself (one picked ahead may be taken meanwhile).
          OPAL_METRICS_PORT: '0',
          OPAL_DATA_DIR: join(dir, c.name),
          OPAL_LOG_LEVEL: 'warn',
          OPAL_INGEST_WORKERS: '0',
          ...(advertised ? { OPAL_ADVERTISE_HOST: '127.0.0.1' } : {}),
          ...(env['OPAL_HTTP_PORT'] ? { OPAL_HTTP_HOST: '127.0.0.1', OPAL_HTTP_PORT: String(ports.http) } : {}),
        });
        const p = new OpalProcess(join(dir, c.name), { command: c.args, env });
        p.port = ports.grpc;
        p.httpPort = ports.http;
        processes.push(p);
        await p.start();
        return { name: c.name, p, ports, http: !!env['OPAL_HTTP_PORT'] };
      }),
    );
    for (const s of started) {
      if (!clientTls) {
        assert.equal(await healthStatus(s.p.url, LIVENESS_HEALTH_NAME), 'SERVING', `${s.name}: the startup and liveness probes' health check`);
        assert.equal(await servingStatus(s.p.url), 'SERVING', `${s.name}: the readiness probe's health check`);
        continue;
      }
      // The probes' HTTP paths; gRPC health over TLS with a client certificate, and nothing without.
      assert.equal(await servingStatus(s.p.url, '', clientTls), 'SERVING', `${s.name}: health over TLS`);
      assert.equal((await fetch(`http://127.0.0.1:${s.p.metricsPort}/readyz`)).status, 200, `${s.name}: readiness`);
      assert.equal((await fetch(`http://127.0.0.1:${s.p.metricsPort}/livez`)).status, 200, `${s.name}: liveness`);
      await assert.rejects(healthStatus(s.p.url), `${s.name}: no plaintext`);
    }
    const inference = started.find((s) => s.name === 'inference')!;
    assert.ok(inference.http);
    // The OpenAI-compatible API on the port named http (HTTPS with grpcTls): it asks for a tenant's key, and serves /metrics.
    const models = await httpGet(inference.ports.http, '/v1/models', clientTls?.ca);
    assert.equal(models.status, 401);
    assert.ok((JSON.parse(models.body) as { error?: { message?: string } }).error?.message);
    assert.equal((await httpGet(inference.ports.http, '/metrics', clientTls?.ca)).status, 200);
    if (clientTls) await assert.rejects(fetch(`http://127.0.0.1:${inference.ports.http}/metrics`), 'no plain HTTP on the TLS port');

    // A call and an append, so the API and log series have samples.
    const ingest = grpcClient(started.find((s) => s.name === 'ingest')!.p.url, 'ingest', clientTls);
    try {
      await call(ingest, 'createDatanet', { datanetId: 'helm-net', name: 'Helm', dataKind: 'text', license: 'MIT', owner: wallet(0).address });
    } finally {
      ingest.close();
    }
    // Admin calls carry the existingSecret's token.
    const inferenceClient = grpcClient(inference.p.url, 'inference', clientTls);
    try {
      const admin = new Metadata();
      admin.set('authorization', `Bearer ${ADMIN_TOKEN}`);
      await assert.rejects(call(inferenceClient, 'createTenant', { tenantId: 'helm-tenant', apiKey: '' }), (e: { code?: number }) => e.code === status.UNAUTHENTICATED);
      assert.ok((await call(inferenceClient, 'createTenant', { tenantId: 'helm-tenant', apiKey: '' }, admin)).apiKey);
    } finally {
      inferenceClient.close();
    }
    const texts = await Promise.all(started.map((s) => scrape(s.p.metricsPort)));
    const types = new Set(texts.flatMap((t) => [...t.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!)));
    const samples = texts.flatMap((t) => [...t.matchAll(/^([a-z_]+)\{([^}]*)\}/gm)].map((m) => ({ name: m[1]!, labels: [...m[2]!.matchAll(/(\w+)="/g)].map((l) => l[1]!) })));
    const rule = of(ms, 'PrometheusRule')[0]!;
    const alerts = rule.spec.groups.flatMap((g: { rules: { alert: string; expr: string }[] }) => g.rules);
    assert.ok(alerts.length >= 6);
    for (const { alert, expr } of alerts) {
      const names = [...new Set([...String(expr).matchAll(/\bopal_[a-z0-9_]+/g)].map((m) => m[0]))];
      assert.ok(names.length > 0, alert);
      for (const name of names) assert.ok(types.has(name), `${alert}: no process serves ${name}`);
      // Labels it groups or filters by, but `pod`, which Prometheus adds from the target.
      const labels = [...String(expr).matchAll(/by \(([^)]*)\)|\{(\w+)=/g)].flatMap((m) => (m[1] ?? m[2]!).split(',').map((l) => l.trim())).filter((l) => l !== 'pod');
      for (const name of names) {
        const seen = samples.filter((s) => s.name === name);
        for (const l of seen.length > 0 ? labels : []) assert.ok(seen.some((s) => s.labels.includes(l)), `${alert}: ${name} has no label ${l}`);
      }
    }
    assert.ok(samples.some((s) => s.name === 'opal_event_log_appends_total'), 'the append has a sample');
  });
});
