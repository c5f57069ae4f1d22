import './text-encoding.js';
import * as envelope from './gen/opal/events/v1/envelope.pb.js';
import * as ingest from './gen/opal/ingest/v1/events.pb.js';
import * as inference from './gen/opal/inference/v1/events.pb.js';
import * as attribution from './gen/opal/attribution/v1/events.pb.js';
import * as settlement from './gen/opal/settlement/v1/events.pb.js';
import * as governance from './gen/opal/governance/v1/events.pb.js';
import { ingestRangeDecoders } from './wire/ingest-events.decoder.js';

type Codec = {
  encode(message: never): { finish(): Uint8Array };
  decode(bytes: Uint8Array): unknown;
};

export type EventCodec = {
  readonly type: string;
  encode(message: unknown): Uint8Array;
  decode(bytes: Uint8Array): unknown;
  /** Decodes `bytes.subarray(start, end)` without making that view first (replay reads the log's buffer). */
  decodeRange(bytes: Uint8Array, start: number, end: number): unknown;
};

function collect(mod: Record<string, unknown>): EventCodec[] {
  const pkg = mod['protobufPackage'] as string;
  const out: EventCodec[] = [];
  for (const [name, value] of Object.entries(mod)) {
    const codec = value as Partial<Codec> | undefined;
    if (typeof codec?.encode !== 'function' || typeof codec.decode !== 'function') continue;
    const c = codec as Codec;
    const type = `${pkg}.${name}`;
    const fast = ingestRangeDecoders.get(type);
    out.push({
      type,
      encode: (m) => c.encode(m as never).finish(),
      decode: fast ? (b) => fast(b, 0, b.length) : (b) => c.decode(b),
      decodeRange: fast ?? ((b, start, end) => c.decode(b.subarray(start, end))),
    });
  }
  return out;
}

/** Every integration event of every service, by fully qualified protobuf name. */
export const eventCatalog: ReadonlyMap<string, EventCodec> = new Map(
  [ingest, inference, attribution, settlement, governance].flatMap((m) => collect(m)).map((c) => [c.type, c]),
);

export const EventEnvelope = envelope.EventEnvelope;
