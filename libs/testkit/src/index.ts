// Shared by the cross-service tests (test/) and the benchmarks (bench/): real processes, real
// gRPC clients, signed requests and seeded synthetic text. Nothing here is a stand-in.
export * from './corpus.js';
export * from './signing.js';
export * from './opal-process.js';
export * from './grpc-clients.js';
export * from './certificates.js';
export * from './example-certificate.js';
export * from './fees.js';
