import { Partitioners } from 'kafkajs';
import { EventLogError } from '@opal/event-log';
import type { ResolvedTopics } from './kafka-event-log.options.js';

/**
 * Where streams lie: a stream's domain topic, and its partition there by the Java client's murmur2
 * of its id (the key every record of it is produced with); the topics of domains and of kinds of
 * stream.
 */
export class StreamPlacement {
  private readonly partitionCounts: Map<string, number>;
  private readonly partitioner = Partitioners.DefaultPartitioner();
  private readonly located = new Map<string, { topic: string; partition: number }>();

  constructor(private readonly topics: ResolvedTopics) {
    this.partitionCounts = new Map(topics.all.map((t) => [t.topic, t.partitions]));
  }

  locate(streamId: string): { topic: string; partition: number } {
    let at = this.located.get(streamId);
    if (at) return at;
    const topic = this.topics.topicOf(streamId);
    const n = this.partitionCounts.get(topic)!;
    const partitionMetadata = Array.from({ length: n }, (_, i) => ({ partitionId: i, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));
    at = { topic, partition: this.partitioner({ topic, partitionMetadata, message: { key: streamId, value: null } }) };
    // One entry per stream, as the index keeps one per stream it has seen.
    this.located.set(streamId, at);
    return at;
  }

  /** The topic of a domain; an unknown domain is refused by name. */
  topicOfDomain(domain: string): string {
    const i = this.topics.domains.indexOf(domain);
    if (i < 0) throw new EventLogError('INVALID_ARGUMENT', `domain '${domain}': no such topic (domains: ${this.topics.domains.join(', ')})`);
    return this.topics.all[i]!.topic;
  }

  /** The topics that hold these kinds of stream (every domain topic when absent). */
  topicsOf(streams: readonly string[] | undefined): string[] {
    return streams ? [...new Set(streams.map((p) => this.topics.topicOf(p)))] : this.topics.all.map((t) => t.topic);
  }
}
