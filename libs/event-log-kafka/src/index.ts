export { KafkaEventLog } from './kafka-event-log.adapter.js';
export { resolveTopics, cursorKey, type KafkaEventLogOptions, type KafkaTopicsOptions, type KafkaRetryOptions, type KafkaIndexOptions, type KafkaSaslOptions, type KafkaTlsOptions } from './kafka-event-log.options.js';
export { DEAD_LETTER_HEADERS, type DeadLetterReason, type DeadLetterRecord } from './dead-letter.js';
export { StreamHeads } from './stream-heads.js';
export { StreamOwners, ownersOf, assignPartitions } from './stream-owners.js';
export { createTopicsWithLeaders } from './kafka-client.js';
