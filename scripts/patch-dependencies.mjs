#!/usr/bin/env node
// Edits to installed dependencies, applied after `npm ci` (the root `postinstall`) and again by every
// build, so a checkout installed before an edit was added gets it too. Each edit names the exact
// version and text it replaces: a dependency upgraded without revisiting its edit fails loudly here
// instead of running unpatched. Applying is idempotent.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * kafkajs 2.2.4 groups a produce request's messages by partition with a reduce that copies the
 * partition's array for every message: quadratic in the messages per partition, and the copies are
 * garbage. The adapter's group commit sends requests of up to 768 KiB (thousands of small events),
 * so this grouping was a large share of an append's CPU and of the collector's work. The
 * replacement pushes onto one array per partition, in the same order.
 */
export const PATCHES = [
  {
    package: 'kafkajs',
    version: '2.2.4',
    file: 'src/producer/groupMessagesPerPartition.js',
    from: `  return messages.reduce((result, message) => {
    const partition = partitioner({ topic, partitionMetadata, message })
    const current = result[partition] || []
    return Object.assign(result, { [partition]: [...current, message] })
  }, {})
}`,
    to: `  // opal: one array per partition, pushed onto (was: a copy of it for every message)
  const result = {}
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message })
    const current = result[partition]
    if (current) current.push(message)
    else result[partition] = [message]
  }
  return result
}`,
  },
  /**
   * kafkajs 2.2.4's request queue re-arms a timer to check for pending requests after every response,
   * pending or not, and unthrottled its delay is negative (Node treats it as 1 ms): each idle
   * connection wakes the process every millisecond, for good, and Node 24 warns about the negative
   * delay (TimeoutNegativeWarning) in every process's log. With nothing pending and no throttle to
   * wait out, there is nothing to check: a request queued later arms the timer itself.
   */
  {
    package: 'kafkajs',
    version: '2.2.4',
    file: 'src/network/requestQueue/index.js',
    from: `      if (this.pending.length > 0) {
        scheduleAt = scheduleAt > 0 ? scheduleAt : CHECK_PENDING_REQUESTS_INTERVAL
      }
      this.throttleCheckTimeoutId = setTimeout(() => {`,
    to: `      if (this.pending.length > 0) {
        scheduleAt = scheduleAt > 0 ? scheduleAt : CHECK_PENDING_REQUESTS_INTERVAL
      } else if (scheduleAt <= 0) {
        // opal: nothing pending and no throttle: nothing to check (was: a 1 ms timer, for good)
        return
      }
      this.throttleCheckTimeoutId = setTimeout(() => {`,
  },
  /**
   * kafkajs 2.2.4 builds each record of a produce request from a spread copy of its message. V8 copies
   * such an object on a slow path: about 1 µs per message here, a tenth of what raw kafkajs spends
   * producing and consuming an event. Record reads only the fields named here, so they are passed
   * as they are.
   */
  {
    package: 'kafkajs',
    version: '2.2.4',
    file: 'src/protocol/requests/produce/v3/request.js',
    from: `    Record({
      ...message,
      offsetDelta: i,`,
    to: `    Record({
      // opal: the fields Record reads (was: a spread copy of the message, ~1 µs each)
      key: message.key,
      value: message.value,
      headers: message.headers,
      offsetDelta: i,`,
  },
  /**
   * kafkajs 2.2.4 decodes every fetched record's timestamp and offset through Long objects: the
   * delta read byte by byte into Longs, the batch's first timestamp and offset parsed from their
   * strings, added and printed again, per record. Both fit a double exactly for any real log, and a
   * record's deltas are small: a delta of up to 4 bytes is read as a number and added to a first
   * value below 10^15 in numbers; anything else goes through Long as before. The strings produced
   * are the same. The second entry puts the two helpers at the top of the module.
   */
  {
    package: 'kafkajs',
    version: '2.2.4',
    file: 'src/protocol/recordBatch/record/v0/decoder.js',
    from: `  const attributes = decoder.readInt8()

  const timestampDelta = decoder.readVarLong()
  const timestamp =
    timestampType === TimestampTypes.LOG_APPEND_TIME && maxTimestamp
      ? maxTimestamp
      : Long.fromValue(firstTimestamp)
          .add(timestampDelta)
          .toString()

  const offsetDelta = decoder.readVarInt()
  const offset = Long.fromValue(firstOffset)
    .add(offsetDelta)
    .toString()
`,
    to: `  const attributes = decoder.readInt8()

  // opal: small deltas and first values below 10^15 added as numbers (was: Longs for every record)
  const smallDelta = opalSmallVarLong(decoder)
  const timestampDelta = smallDelta === undefined ? decoder.readVarLong() : smallDelta
  const timestamp =
    timestampType === TimestampTypes.LOG_APPEND_TIME && maxTimestamp
      ? maxTimestamp
      : opalAdd(firstTimestamp, timestampDelta)

  const offsetDelta = decoder.readVarInt()
  const offset = opalAdd(firstOffset, offsetDelta)
`,
  },
  {
    package: 'kafkajs',
    version: '2.2.4',
    file: 'src/protocol/recordBatch/record/v0/decoder.js',
    from: `const TimestampTypes = require('../../../timestampTypes')
`,
    to: `const TimestampTypes = require('../../../timestampTypes')
// opal: a zigzag varlong of at most 4 bytes as a number, or undefined (nothing read) for a longer one.
function opalSmallVarLong(decoder) {
  const buffer = decoder.buffer
  let at = decoder.offset
  let result = 0
  for (let shift = 0; shift < 28; shift += 7) {
    if (at >= buffer.length) return undefined
    const byte = buffer[at++]
    result |= (byte & 0x7f) << shift
    if (byte < 0x80) {
      decoder.offset = at
      return (result >>> 1) ^ -(result & 1)
    }
  }
  return undefined
}

// opal: first + delta as kafkajs prints it, in numbers while both are exact in a double.
function opalAdd(first, delta) {
  const base = typeof first === 'string' && first.length < 16 ? Number(first) : NaN
  if (typeof delta === 'number' && Number.isSafeInteger(base) && Number.isSafeInteger(base + delta)) return String(base + delta)
  return Long.fromValue(first)
    .add(delta)
    .toString()
}
`,
  },
  /**
   * kafkajs 2.2.4's encoder zero-fills every buffer it allocates, and it allocates one for each
   * record of a produce request, then again each time one grows, although it writes every byte it
   * hands out (`buffer` is the written part only). Appending the ingest events through the adapter,
   * alternating the two four times: 11.4-14.2 (mean 12.7) -> 10.8-12.5 (mean 11.9) µs of the
   * appending process's CPU per event.
   */
  {
    package: 'kafkajs',
    version: '2.2.4',
    file: 'src/protocol/encoder.js',
    from: `    this.buf = Buffer.alloc(Encoder.nextPowerOfTwo(initialSize))`,
    to: `    this.buf = Buffer.allocUnsafe(Encoder.nextPowerOfTwo(initialSize)) // opal: every byte handed out is written`,
  },
  {
    package: 'kafkajs',
    version: '2.2.4',
    file: 'src/protocol/encoder.js',
    from: `      const newBuffer = Buffer.alloc(newLength)`,
    to: `      const newBuffer = Buffer.allocUnsafe(newLength) // opal: every byte handed out is written`,
  },
];

/**
 * Applies each patch under `modules` (a node_modules folder). Returns what happened to each:
 * 'applied', 'present' (applied before), 'missing' (not applied, and `write` was false), or 'absent'
 * (the package is not installed). Throws if a package has another version, or its file holds
 * neither the expected text nor the patch.
 */
export function applyPatches(modules, patches = PATCHES, { write = true } = {}) {
  return patches.map((p) => {
    const dir = join(modules, p.package);
    const manifest = join(dir, 'package.json');
    if (!existsSync(manifest)) return { package: p.package, file: p.file, outcome: 'absent' };
    const version = JSON.parse(readFileSync(manifest, 'utf8')).version;
    if (version !== p.version) {
      throw new Error(`patch-dependencies: ${p.package} is ${version}, the patch of ${p.file} is for ${p.version}: revisit it (scripts/patch-dependencies.mjs)`);
    }
    const path = join(dir, p.file);
    const text = readFileSync(path, 'utf8');
    if (text.includes(p.to)) return { package: p.package, file: p.file, outcome: 'present' };
    if (!text.includes(p.from)) throw new Error(`patch-dependencies: ${p.package}/${p.file} does not hold the code the patch replaces`);
    if (!write) return { package: p.package, file: p.file, outcome: 'missing' };
    writeFileSync(path, text.replace(p.from, p.to));
    return { package: p.package, file: p.file, outcome: 'applied' };
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const quiet = process.argv.includes('--quiet');
  for (const r of applyPatches(join(root, 'node_modules'))) {
    if (!quiet || r.outcome === 'applied') console.log(`patch-dependencies: ${r.package}/${r.file}: ${r.outcome}`);
  }
}
