import kafkajs, { type Admin } from 'kafkajs';
import { EventLogError } from '@opal/event-log';
import type { ResolvedTopics } from './kafka-event-log.options.js';
import { partitionOffsets } from './kafka-client.js';

/** The topic settings that decide whether Kafka ever deletes an event, and what each must be. */
const KEEPS_EVERYTHING: Readonly<Record<string, { readonly ok: (value: string) => boolean; readonly why: string }>> = {
  'retention.ms': { ok: (v) => v === '-1', why: 'Kafka deletes events older than that' },
  'retention.bytes': { ok: (v) => v === '-1', why: "Kafka deletes a partition's oldest events past that size" },
  'cleanup.policy': { ok: (v) => !v.split(',').map((p) => p.trim()).includes('compact'), why: 'compaction keeps only the last event of each stream' },
};

/**
 * The log is the source of truth, so its domain topics must keep every event, and must still hold
 * every event they were given. The topics this adapter creates do (retention.ms=-1,
 * retention.bytes=-1, cleanup.policy=delete); topics a platform team created beforehand (a
 * KafkaTopic resource, a script) take the cluster's defaults, commonly 7 days, and after that the
 * oldest events of every stream would be deleted: replays, audits and new read models would miss
 * them, and a stream's next append would be checked against a history with a hole. Refused here,
 * naming the topic, the setting and the fix:
 * - a setting under which Kafka deletes events;
 * - a partition whose first offset is past 0: its first events are gone already.
 * Both are FAILED_PRECONDITION, every topic's problems in one error. The dead-letter topic holds
 * copies and is not checked.
 */
export async function checkKeepsEveryEvent(admin: Admin, topics: ResolvedTopics): Promise<void> {
  const problems = await retentionProblems(admin, topics);
  if (problems.length > 0) throw new EventLogError('FAILED_PRECONDITION', `the event log must keep every event: ${problems.join('; ')}`);
}

/** What keeps the domain topics from keeping every event (see checkKeepsEveryEvent), one line each; empty when nothing does. */
export async function retentionProblems(admin: Admin, topics: ResolvedTopics): Promise<string[]> {
  const names = topics.all.map((t) => t.topic);
  const described = await admin
    .describeConfigs({
      includeSynonyms: false,
      resources: names.map((name) => ({ type: kafkajs.ConfigResourceTypes.TOPIC, name, configNames: Object.keys(KEEPS_EVERYTHING) })),
    })
    .catch((error: unknown) => {
      if (!/AUTHORIZATION_FAILED/.test(String((error as { type?: string }).type))) throw error;
      throw new EventLogError('FAILED_PRECONDITION', `topics ${names.join(', ')}: this client may not read their settings (${(error as Error).message}); grant its user DescribeConfigs on them, so the log can check that they keep every event`);
    });
  const problems: string[] = [];
  for (const r of described.resources) {
    for (const e of r.configEntries) {
      const rule = KEEPS_EVERYTHING[e.configName];
      if (!rule || rule.ok(e.configValue)) continue;
      const fix = e.configName === 'cleanup.policy' ? 'cleanup.policy=delete' : `${e.configName}=-1`;
      problems.push(`topic ${r.resourceName}: ${e.configName} is ${e.configValue}${e.configName === 'retention.ms' ? ` (${days(e.configValue)})` : ''}${e.isDefault ? ", the cluster's default" : ''}, and ${rule.why}; set ${fix} on it (kafka-configs --alter --entity-type topics --entity-name ${r.resourceName} --add-config ${fix})`);
    }
  }
  for (const topic of names) {
    for (const p of await partitionOffsets(admin, topic)) {
      const first = p.low;
      if (first > 0) {
        problems.push(`topic ${topic} partition ${p.partition}: its first record is at offset ${first}, so the ${first} records before it, and their events, are gone (deleted by retention or by deleteRecords); the log is not whole. Restore it from an export (opal log import into an empty cluster)`);
      }
    }
  }
  return problems;
}

function days(ms: string): string {
  const n = Number(ms) / 86_400_000;
  const rounded = Math.round(n * 100) / 100;
  return Number.isFinite(n) ? `${rounded} day${rounded === 1 ? '' : 's'}` : ms;
}
