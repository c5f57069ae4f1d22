import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ServerCredentials, experimental } from '@grpc/grpc-js';
import type { SecureContextOptions } from 'node:tls';
import type { Logger } from 'pino';
import type { ProcessMetrics } from './metrics.js';

/** A port's TLS as PEM text: its certificate chain and key, and the CAs it checks others against. */
export type TlsPem = { readonly cert: string; readonly key: string; readonly clientCa?: string; readonly ca?: string };

/** Where each part of a TlsPem is read from. */
export type TlsPaths = { readonly [K in keyof TlsPem]: TlsPem[K] };

/** The gRPC port's TlsFiles in a process (null where it speaks plaintext). */
export const GRPC_TLS_FILES = Symbol('GrpcTlsFiles');

/** How often a port's certificate files are read again when nothing says otherwise. */
export const TLS_RELOAD_MS = 60_000;

/**
 * The first certificate of `cert` (the server's own, before its chain), once it is checked to be the
 * pair of `key`. Throws saying which is wrong: a certificate and key from different issues (halfway
 * through a rotation) would otherwise fail every handshake.
 */
export function checkedPair(cert: string, key: string): X509Certificate {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (error) {
    throw new Error(`the certificate does not parse: ${(error as Error).message}`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new Error(`the key does not parse: ${(error as Error).message}`);
  }
  if (!leaf.checkPrivateKey(privateKey)) throw new Error(`the key is not the certificate's (subject ${leaf.subject.replace(/\n/g, ', ')})`);
  return leaf;
}

/** Throws where `pem` does not hold a certificate that parses (a CA file). */
export function checkedCa(pem: string, what: string): void {
  try {
    new X509Certificate(pem);
  } catch (error) {
    throw new Error(`${what} does not parse: ${(error as Error).message}`);
  }
}

/** What a watcher of a port's TLS files tells: a new certificate in use, or files it would not take. */
export type TlsReloadReport = {
  reloaded(leaf: X509Certificate): void;
  refused(error: Error): void;
};

/**
 * A port's certificate, key and CAs, read from their files at start and again every `intervalMs`
 * (see watch), so a certificate renewed on disk (a Kubernetes Secret that cert-manager rotates) is
 * served without a restart. Files are only taken together and only once they check out: a key
 * that is not the certificate's, or a file caught half written, leaves the ones in use as they are
 * until a later read finds them right. Whoever serves with them (a gRPC server, its clients to the
 * other replicas, an HTTPS server) listens with onChange; connections already open keep the
 * certificate they began with, new ones get the new one.
 */
export class TlsFiles {
  private pem: TlsPem;
  private leaf: X509Certificate;
  private readonly listeners = new Set<(pem: TlsPem) => void>();
  private timer: NodeJS.Timeout | undefined;
  /** The digest of files last refused, so each bad set is reported once, not at every read. */
  private refusedDigest: string | undefined;
  private reading: Promise<TlsReloadOutcome> | undefined;

  constructor(
    /** The port's name in logs and metrics (`grpc`, `http`). */
    readonly port: string,
    private readonly paths: TlsPaths,
    initial: TlsPem,
  ) {
    this.leaf = checkedPair(initial.cert, initial.key);
    this.pem = initial;
  }

  get current(): TlsPem {
    return this.pem;
  }

  /** The certificate in use: its subject, and when it stops being valid. */
  get certificate(): X509Certificate {
    return this.leaf;
  }

  /** Calls `listener` with each new set of files taken; returns its removal. */
  onChange(listener: (pem: TlsPem) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Reads the files again every `intervalMs` (0: never), telling `report` what came of each change. */
  watch(intervalMs: number, report: TlsReloadReport): void {
    this.stop();
    if (intervalMs <= 0) return;
    this.timer = setInterval(() => {
      void this.reload().then((outcome) => {
        if (outcome.kind === 'reloaded') report.reloaded(outcome.leaf);
        else if (outcome.kind === 'refused' && outcome.first) report.refused(outcome.error);
      });
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reads the files now; takes them if they changed and check out. One read at a time. */
  reload(): Promise<TlsReloadOutcome> {
    this.reading ??= this.readFiles().finally(() => (this.reading = undefined));
    return this.reading;
  }

  private async readFiles(): Promise<TlsReloadOutcome> {
    let next: TlsPem;
    try {
      const read = async (path: string | undefined) => (path === undefined ? undefined : readFile(path, 'utf8'));
      const [cert, key, clientCa, ca] = await Promise.all([read(this.paths.cert), read(this.paths.key), read(this.paths.clientCa), read(this.paths.ca)]);
      next = { cert: cert!, key: key!, ...(clientCa !== undefined && { clientCa }), ...(ca !== undefined && { ca }) };
    } catch (error) {
      return this.refuse(new Error(`${this.port} TLS files: ${(error as Error).message}`), String((error as Error).message));
    }
    if (same(next, this.pem)) {
      this.refusedDigest = undefined;
      return { kind: 'unchanged' };
    }
    let leaf: X509Certificate;
    try {
      leaf = checkedPair(next.cert, next.key);
      if (next.clientCa !== undefined) checkedCa(next.clientCa, 'the client CA');
      if (next.ca !== undefined) checkedCa(next.ca, 'the CA');
    } catch (error) {
      return this.refuse(new Error(`${this.port} TLS files: ${(error as Error).message}; the ones in use stay`), digestOf(next));
    }
    this.pem = next;
    this.leaf = leaf;
    this.refusedDigest = undefined;
    for (const listener of this.listeners) listener(next);
    return { kind: 'reloaded', leaf };
  }

  private refuse(error: Error, digest: string): TlsReloadOutcome {
    const first = this.refusedDigest !== digest;
    this.refusedDigest = digest;
    return { kind: 'refused', error, first };
  }
}

export type TlsReloadOutcome =
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'reloaded'; readonly leaf: X509Certificate }
  /** `first`: these files were not refused at the read before (a report is due). */
  | { readonly kind: 'refused'; readonly error: Error; readonly first: boolean };

function same(a: TlsPem, b: TlsPem): boolean {
  return a.cert === b.cert && a.key === b.key && a.clientCa === b.clientCa && a.ca === b.ca;
}

function digestOf(pem: TlsPem): string {
  return createHash('sha256').update(JSON.stringify([pem.cert, pem.key, pem.clientCa ?? null, pem.ca ?? null])).digest('hex');
}

/**
 * A gRPC server's TLS from TlsFiles: clients must show a certificate the client CA signed where
 * there is one (mutual TLS). Each change of the files becomes the server's context for the
 * connections that come after it.
 */
export class ReloadingServerCredentials extends ServerCredentials {
  constructor(files: TlsFiles) {
    const mutual = files.current.clientCa !== undefined;
    super({ requestCert: mutual, rejectUnauthorized: mutual, ...(process.env.GRPC_SSL_CIPHER_SUITES && { ciphers: process.env.GRPC_SSL_CIPHER_SUITES }) }, serverContext(files.current));
    files.onChange((pem) => this.updateSecureContextOptions(serverContext(pem)));
  }

  override _equals(other: ServerCredentials): boolean {
    return other === this;
  }
}

function serverContext(pem: TlsPem): SecureContextOptions {
  return { cert: [Buffer.from(pem.cert)], key: [Buffer.from(pem.key)], ...(pem.clientCa !== undefined && { ca: Buffer.from(pem.clientCa) }) };
}

/**
 * TlsFiles as gRPC clients take certificates: its CA (`ca`; the system's when there is none) as the
 * roots a server is checked against, its certificate and key as the identity a client shows. A
 * channel made with it uses what the files hold when each connection begins.
 */
export function certificateProviderOf(files: TlsFiles, systemRoots: () => string): experimental.CertificateProvider {
  const ca = new Set<experimental.CaCertificateUpdateListener>();
  const identity = new Set<experimental.IdentityCertificateUpdateListener>();
  const caUpdate = (pem: TlsPem) => ({ caCertificate: Buffer.from(pem.ca ?? systemRoots()) });
  const identityUpdate = (pem: TlsPem) => ({ certificate: Buffer.from(pem.cert), privateKey: Buffer.from(pem.key) });
  files.onChange((pem) => {
    for (const l of ca) l(caUpdate(pem));
    for (const l of identity) l(identityUpdate(pem));
  });
  return {
    addCaCertificateListener(listener) {
      ca.add(listener);
      listener(caUpdate(files.current));
    },
    removeCaCertificateListener: (listener) => void ca.delete(listener),
    addIdentityCertificateListener(listener) {
      identity.add(listener);
      listener(identityUpdate(files.current));
    },
    removeIdentityCertificateListener: (listener) => void identity.delete(listener),
  };
}

/**
 * Reads a port's TLS files again every `intervalMs` (0: never) for as long as the process runs:
 * logs and counts each certificate taken or set of files refused, and serves the expiry of the
 * one in use as a metric.
 */
export function watchTls(files: TlsFiles, intervalMs: number, logger: Logger, metrics: ProcessMetrics): void {
  metrics.watchTlsCertificate(files.port, () => Date.parse(files.certificate.validTo));
  files.watch(intervalMs, {
    reloaded(leaf) {
      metrics.tlsReloaded(files.port, 'reloaded');
      logger.info({ port: files.port, subject: leaf.subject.replace(/\n/g, ', '), validTo: new Date(leaf.validTo).toISOString(), serial: leaf.serialNumber }, 'TLS certificate reloaded: new connections get it');
    },
    refused(error) {
      metrics.tlsReloaded(files.port, 'refused');
      logger.warn({ port: files.port, reason: error.message }, 'TLS files changed but were not taken');
    },
  });
}
