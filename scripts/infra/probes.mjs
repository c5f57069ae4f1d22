// Dependency-free readiness probes: each asks the server a real question in its own protocol.
import { connect } from 'node:net';

function exchange(host, port, request, isComplete, timeoutMs = 2000) {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const chunks = [];
    const done = (err, value) => {
      socket.destroy();
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(() => done(new Error('timeout')), timeoutMs);
    socket.on('connect', () => socket.write(request));
    socket.on('data', (d) => {
      chunks.push(d);
      const all = Buffer.concat(chunks);
      if (isComplete(all)) done(undefined, all);
    });
    socket.on('error', (e) => done(e));
    socket.on('close', () => done(new Error('closed')));
  });
}

const framed = (all) => all.length >= 4 && all.length >= 4 + all.readInt32BE(0);

/** Kafka ApiVersions v0: answered with error code 0 once the broker serves requests. */
export async function kafkaReady(host, port) {
  const clientId = Buffer.from('opal-infra');
  const body = Buffer.alloc(2 + 2 + 4 + 2 + clientId.length);
  body.writeInt16BE(18, 0); // ApiVersions
  body.writeInt16BE(0, 2);
  body.writeInt32BE(1, 4); // correlation id
  body.writeInt16BE(clientId.length, 8);
  clientId.copy(body, 10);
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length);
  const reply = await exchange(host, port, Buffer.concat([size, body]), framed);
  return reply.readInt32BE(4) === 1 && reply.readInt16BE(8) === 0;
}

/** MongoDB OP_MSG { ping: 1, $db: 'admin' }: answered with ok: 1. */
export async function mongoReady(host, port) {
  const doc = Buffer.concat([
    Buffer.from([0x10]), Buffer.from('ping\0'), int32le(1),
    Buffer.from([0x02]), Buffer.from('$db\0'), int32le(6), Buffer.from('admin\0'),
  ]);
  const bson = Buffer.concat([int32le(4 + doc.length + 1), doc, Buffer.from([0])]);
  const header = Buffer.alloc(16);
  const total = 16 + 4 + 1 + bson.length;
  header.writeInt32LE(total, 0);
  header.writeInt32LE(1, 4); // request id
  header.writeInt32LE(0, 8);
  header.writeInt32LE(2013, 12); // OP_MSG
  const msg = Buffer.concat([header, int32le(0), Buffer.from([0]), bson]);
  const reply = await exchange(host, port, msg, (all) => all.length >= 4 && all.length >= all.readInt32LE(0));
  // The reply document holds `ok` as a double 1.0; look for the element rather than parse BSON.
  const okAt = reply.indexOf(Buffer.from('\x01ok\0', 'latin1'));
  return okAt > 0 && reply.readDoubleLE(okAt + 4) === 1;
}

/** JSON-RPC eth_chainId over HTTP. */
export async function chainReady(host, port, chainId) {
  const res = await fetch(`http://${host}:${port}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
    signal: AbortSignal.timeout(2000),
  });
  const body = await res.json();
  return Number(body.result) === chainId;
}

function int32le(n) {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n);
  return b;
}

/** Whether something accepts TCP connections on host:port. */
export function tcpOpen(host, port, timeoutMs = 2000) {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
