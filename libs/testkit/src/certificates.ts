import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Paths of PEM files: a CA, and certificates it signed with their keys. */
export type TestCertificates = { readonly ca: string; readonly server: { cert: string; key: string }; readonly client: { cert: string; key: string } };

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
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const ca = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  await run('openssl', ['req', '-x509', ...ec, '-keyout', caKey, '-out', ca, '-days', '2', '-subj', '/CN=opal-test-ca']);
  const issue = async (name: string, cn: string, extensions: string) => {
    const key = join(dir, `${name}.key`);
    const csr = join(dir, `${name}.csr`);
    const cert = join(dir, `${name}.crt`);
    const ext = join(dir, `${name}.ext`);
    writeFileSync(ext, extensions);
    await run('openssl', ['req', ...ec, '-keyout', key, '-out', csr, '-subj', `/CN=${cn}`]);
    await run('openssl', ['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', ext]);
    return { cert, key };
  };
  const server = await issue('server', serverName, `subjectAltName=DNS:${serverName}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  const client = await issue('client', 'opal-test-client', 'extendedKeyUsage=clientAuth\n');
  return { ca, server, client };
}
