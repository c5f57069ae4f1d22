import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { ServerCredentials, experimental } from '@grpc/grpc-js';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
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
export function checkedPair(cert: string, key: string, passphrase?: string): X509Certificate {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (error) {
    throw new Error(`the certificate does not parse: ${(error as Error).message}`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(passphrase === undefined ? key : { key, passphrase });
  } catch (error) {
    throw new Error(`the key does not parse: ${(error as Error).message}`);
  }
  if (!leaf.checkPrivateKey(privateKey)) throw new Error(`the key is not the certificate's (subject ${leaf.subject.replace(/\n/g, ', ')})`);
  return leaf;
}

/** A PEM file's text, read now; throws saying why it cannot be one (unreadable, or no PEM block in it). */
export function readPemFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read a PEM file there: ${(error as Error).message}`);
  }
  if (!text.includes('-----BEGIN ')) throw new Error('cannot read a PEM file there: no PEM block in it');
  return text;
}

/**
 * The certificates of a CA file, each of which must parse: a bundle (two CAs while one replaces
 * the other) is trusted whole, so a certificate of it that does not parse is named, by its place.
 */
export function checkedCa(pem: string, what: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error(`${what} does not parse: no certificate in it`);
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      const which = blocks.length > 1 ? ` (certificate ${i + 1} of ${blocks.length} in the file)` : '';
      throw new Error(`${what} does not parse${which}: ${(error as Error).message}`);
    }
  });
}

/** The certificate of a bundle that expires first: the one an expiry alert must watch. */
export function firstToExpire(certificates: readonly X509Certificate[]): X509Certificate {
  return certificates.reduce((a, b) => (Date.parse(b.validTo) < Date.parse(a.validTo) ? b : a));
}

/** What a watcher of a port's TLS files tells: a new certificate in use, or files it would not take. */
export type TlsReloadReport = {
  reloaded(leaf: X509Certificate): void;
  refused(error: Error): void;
};

/**
 * PEM files read at start and again every `intervalMs` (see watch), so a certificate renewed on
 * disk (a Kubernetes Secret that cert-manager or an operator rotates) is used without a restart.
 * Files are only taken together and only once `check` accepts them: a key that is not the
 * certificate's, or a file caught half written, leaves the ones in use as they are until a later
 * read finds them right. Whoever uses them (a gRPC server, its clients to the other replicas, an
 * HTTPS server, a Kafka client) listens with onChange or reads `current` for each new connection;
 * connections already open keep the certificate they began with.
 */
export class PemFiles<T extends Readonly<Record<string, string | undefined>>> {
  private pem: T;
  private leaf: X509Certificate;
  private readonly listeners = new Set<(pem: T) => void>();
  private timer: NodeJS.Timeout | undefined;
  /** The digest of files last refused, so each bad set is reported once, not at every read. */
  private refusedDigest: string | undefined;
  private reading: Promise<TlsReloadOutcome> | undefined;

  constructor(
    /** What they are for, in logs and metrics (`grpc`, `http`, `kafka`). */
    readonly port: string,
    private readonly paths: { readonly [K in keyof T]: string | undefined },
    initial: T,
    /** Throws saying what is wrong with a set of files; else the certificate whose expiry counts. */
    private readonly check: (pem: T) => X509Certificate,
  ) {
    this.leaf = check(initial);
    this.pem = initial;
  }

  get current(): T {
    return this.pem;
  }

  /** The certificate in use whose expiry counts (a port's own; where a client shows none, its CA bundle's first to expire). */
  get certificate(): X509Certificate {
    return this.leaf;
  }

  /** Calls `listener` with each new set of files taken; returns its removal. */
  onChange(listener: (pem: T) => void): () => void {
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
    const keys = Object.keys(this.paths).filter((k) => this.paths[k] !== undefined).sort();
    let next: T;
    try {
      const texts = await Promise.all(keys.map((k) => readFile(this.paths[k]!, 'utf8')));
      next = Object.fromEntries(keys.map((k, i) => [k, texts[i]])) as T;
    } catch (error) {
      return this.refuse(new Error(`${this.port} TLS files: ${(error as Error).message}`), String((error as Error).message));
    }
    if (keys.every((k) => next[k] === this.pem[k])) {
      this.refusedDigest = undefined;
      return { kind: 'unchanged' };
    }
    let leaf: X509Certificate;
    try {
      leaf = this.check(next);
    } catch (error) {
      const digest = createHash('sha256').update(JSON.stringify(keys.map((k) => next[k]))).digest('hex');
      return this.refuse(new Error(`${this.port} TLS files: ${(error as Error).message}; the ones in use stay`), digest);
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

/** A server port's certificate, key and CAs (see PemFiles): the key must be the certificate's, and the CAs must parse. */
export class TlsFiles extends PemFiles<TlsPem> {
  constructor(port: string, paths: TlsPaths, initial: TlsPem) {
    super(port, paths, initial, (pem) => {
      const leaf = checkedPair(pem.cert, pem.key);
      if (pem.clientCa !== undefined) checkedCa(pem.clientCa, 'the client CA');
      if (pem.ca !== undefined) checkedCa(pem.ca, 'the CA');
      return leaf;
    });
  }
}

/**
 * A client's TLS to a server (Kafka's brokers, MongoDB), as PEM text: the CA to trust (the system's
 * without it), and the client's certificate and key where the server asks for one.
 */
export type ClientTlsPem = { readonly ca?: string; readonly cert?: string; readonly key?: string };

/** TLS to Kafka's brokers (see ClientTlsPem). */
export type KafkaTlsPem = ClientTlsPem;

/** A client's TLS as configured: its PEM text, the files it comes from, and the key's passphrase where it is encrypted. */
export type ClientTls = ClientTlsPem & { readonly paths: { readonly [K in keyof ClientTlsPem]: string | undefined }; readonly passphrase?: string };

/**
 * A client's TLS files (see PemFiles), `port` naming them in logs and metrics: its certificate and
 * key must go together, its CA must parse. The expiry that counts is the client certificate's, or
 * where it shows none, that of the CA bundle's certificate that expires first. Undefined where no file is given (TLS trusting the system's CAs).
 */
export function clientTlsFiles(port: string, tls: ClientTls): PemFiles<ClientTlsPem> | undefined {
  const { paths, passphrase, ...pem } = tls;
  if (paths.ca === undefined && paths.cert === undefined) return undefined;
  return new PemFiles<ClientTlsPem>(port, paths, pem, (next) => {
    const cas = next.ca !== undefined ? checkedCa(next.ca, 'the CA') : [];
    if (next.cert !== undefined || next.key !== undefined) return checkedPair(next.cert ?? '', next.key ?? '', passphrase);
    return firstToExpire(cas);
  });
}

/** The Kafka client's TLS files (see clientTlsFiles). */
export function kafkaTlsFiles(tls: ClientTls): PemFiles<ClientTlsPem> | undefined {
  return clientTlsFiles('kafka', tls);
}

/**
 * Kafka TLS settings that read `files` each time they are read: kafkajs reads them as it opens each
 * connection to a broker, so renewed files are used from the next connection on.
 */
export function liveKafkaTls(files: PemFiles<KafkaTlsPem>): KafkaTlsPem {
  return {
    get ca() {
      return files.current.ca;
    },
    get cert() {
      return files.current.cert;
    },
    get key() {
      return files.current.key;
    },
  };
}

/**
 * A TLS context for clients (Node's `tls.connect({ secureContext })`, which the MongoDB driver passes
 * through) made from `files`, and made again from each change of them: every connection opened
 * after a change uses the renewed certificate or CA; those open keep theirs.
 */
export function reloadingSecureContext(files: PemFiles<ClientTlsPem>, passphrase?: string): SecureContext {
  const contextOf = (pem: ClientTlsPem) =>
    createSecureContext({ ...(pem.ca !== undefined && { ca: pem.ca }), ...(pem.cert !== undefined && { cert: pem.cert, key: pem.key, passphrase }) });
  const secureContext = contextOf(files.current);
  // A TLS socket takes the native context from `context` as it begins: swapping it serves the next ones.
  files.onChange((pem) => (secureContext.context = contextOf(pem).context));
  return secureContext;
}

export type TlsReloadOutcome =
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'reloaded'; readonly leaf: X509Certificate }
  /** `first`: these files were not refused at the read before (a report is due). */
  | { readonly kind: 'refused'; readonly error: Error; readonly first: boolean };

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
export function watchTls<T extends Readonly<Record<string, string | undefined>>>(files: PemFiles<T>, intervalMs: number, logger: Logger, metrics: ProcessMetrics): void {
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
