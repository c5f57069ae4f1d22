import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Paths of PEM files: a CA (and its key), and certificates it signed with their keys. */
export type TestCertificates = { readonly ca: string; readonly caKey: string; readonly server: { cert: string; key: string }; readonly client: { cert: string; key: string } };

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A new certificate and key from the CA of `certs`, for `cn` with `extensions` (openssl's extfile text), as `<dir>/<name>.crt` and `.key`. */
async function issue(certs: Pick<TestCertificates, 'ca' | 'caKey'>, dir: string, name: string, cn: string, extensions: string): Promise<{ cert: string; key: string }> {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.crt`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, extensions);
  await run('openssl', ['req', ...EC, '-keyout', key, '-out', csr, '-subj', `/CN=${cn}`]);
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', certs.ca, '-CAkey', certs.caKey, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', ext]);
  return { cert, key };
}

/** A renewal: another certificate and key for `serverName` from the same CA, as `server` is (what cert-manager writes when it renews). */
export function renewTestCertificate(certs: TestCertificates, dir: string, name: string, serverName: string): Promise<{ cert: string; key: string }> {
  return issue(certs, dir, name, serverName, `subjectAltName=DNS:${serverName}\nextendedKeyUsage=serverAuth,clientAuth\n`);
}

/**
 * A throwaway CA (P-256, valid two days) and two certificates it signed, made with the openssl
 * command: `server` for `serverName` (its only name: a client that reaches it by IP must name it),
 * good for servers and clients, and `client` for clients only. Undefined where openssl is missing.
 */
export async function makeTestCertificates(dir: string, serverName: string): Promise<TestCertificates | undefined> {
  try {
    await run('openssl', ['version']);
  } catch {
    return undefined;
  }
  const ca = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  await run('openssl', ['req', '-x509', ...EC, '-keyout', caKey, '-out', ca, '-days', '2', '-subj', '/CN=opal-test-ca']);
  const server = await issue({ ca, caKey }, dir, 'server', serverName, `subjectAltName=DNS:${serverName}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  const client = await issue({ ca, caKey }, dir, 'client', 'opal-test-client', 'extendedKeyUsage=clientAuth\n');
  return { ca, caKey, server, client };
}
