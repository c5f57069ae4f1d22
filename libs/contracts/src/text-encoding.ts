import { configureTextEncoding, getTextEncoding } from '@bufbuild/protobuf/wire';

// The generated codecs decode strings with TextDecoder, which is slow for the many short strings
// of event payloads (ids, addresses, hashes); Node's native UTF-8 slicing is several times faster
// and decodes the same way (invalid sequences become U+FFFD). Strict decoding is left as it was.
const current = getTextEncoding();
configureTextEncoding({
  ...current,
  decodeUtf8: (bytes: Uint8Array, strict?: boolean) =>
    strict ? current.decodeUtf8(bytes, true) : (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).toString('utf8'),
});
