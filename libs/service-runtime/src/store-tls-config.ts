import { checkedCa, checkedPair, readPemFile, type ClientTls } from './tls-files.js';

// MongoDB's TLS files as the configuration takes them (OPAL_STORE_TLS_*, or the store URL's own
// options), checked at load: see loadConfig.

/** A mongodb:// URL's options (after `?`), names lowercased as the driver takes them. */
function urlOptions(url: string): Map<string, string> {
  const at = url.indexOf('?');
  const out = new Map<string, string>();
  if (at < 0) return out;
  for (const [k, v] of new URLSearchParams(url.slice(at + 1))) out.set(k.toLowerCase(), v);
  return out;
}

/**
 * The store's TLS files: OPAL_STORE_TLS_* (already read), or the URL's tlsCAFile and
 * tlsCertificateKeyFile (one file holding the certificate and its key, as MongoDB's clients take
 * it), read here; what is wrong goes to `problems`, naming the variable.
 */
export function storeTlsOf(
  store: string,
  env: { ca?: string; cert?: string; key?: string },
  paths: { ca?: string; cert?: string; key?: string },
  problems: string[],
): ClientTls | undefined {
  const fromEnv = paths.ca !== undefined || paths.cert !== undefined || paths.key !== undefined;
  const mongo = /^mongodb(\+srv)?:\/\//.test(store);
  if (fromEnv && !mongo) {
    problems.push(`  ${paths.ca !== undefined ? 'OPAL_STORE_TLS_CA_FILE' : paths.cert !== undefined ? 'OPAL_STORE_TLS_CERT_FILE' : 'OPAL_STORE_TLS_KEY_FILE'}: only with a MongoDB store (OPAL_STORE=mongodb://...)`);
    return undefined;
  }
  if (!mongo) return undefined;
  const options = urlOptions(store);
  const caPath = options.get('tlscafile');
  const certKeyPath = options.get('tlscertificatekeyfile');
  const passphrase = options.get('tlscertificatekeyfilepassword');
  const off = ['tls', 'ssl'].find((k) => options.get(k) === 'false');
  if (fromEnv && (caPath !== undefined || certKeyPath !== undefined)) {
    problems.push(`  OPAL_STORE: names ${caPath !== undefined ? 'tlsCAFile' : 'tlsCertificateKeyFile'} while OPAL_STORE_TLS_* name files too; give the files one way`);
    return undefined;
  }
  if ((fromEnv || caPath !== undefined || certKeyPath !== undefined) && off) {
    problems.push(`  OPAL_STORE: says ${off}=false while TLS files are given`);
    return undefined;
  }
  if (fromEnv) {
    if ((paths.cert === undefined) !== (paths.key === undefined)) {
      problems.push(`  ${paths.cert === undefined ? 'OPAL_STORE_TLS_CERT_FILE' : 'OPAL_STORE_TLS_KEY_FILE'}: a client certificate and its key go together`);
      return undefined;
    }
    return checkedClientTls({ ca: env.ca, cert: env.cert, key: env.key, paths: { ca: paths.ca, cert: paths.cert, key: paths.key } }, { ca: 'OPAL_STORE_TLS_CA_FILE', pair: 'OPAL_STORE_TLS_KEY_FILE' }, problems);
  }
  if (caPath === undefined && certKeyPath === undefined) return undefined;
  const read = (param: string, path: string): string | undefined => {
    try {
      return readPemFile(path);
    } catch (error) {
      problems.push(`  OPAL_STORE: ${param} ${JSON.stringify(path)}: ${(error as Error).message}`);
      return undefined;
    }
  };
  const ca = caPath === undefined ? undefined : read('tlsCAFile', caPath);
  const certKey = certKeyPath === undefined ? undefined : read('tlsCertificateKeyFile', certKeyPath);
  if ((caPath !== undefined && ca === undefined) || (certKeyPath !== undefined && certKey === undefined)) return undefined;
  return checkedClientTls(
    { ca, cert: certKey, key: certKey, paths: { ca: caPath, cert: certKeyPath, key: certKeyPath }, ...(passphrase !== undefined && { passphrase }) },
    { ca: 'OPAL_STORE: tlsCAFile', pair: 'OPAL_STORE: tlsCertificateKeyFile' },
    problems,
  );
}

/** `tls` once its CA parses and its certificate and key go together; else undefined, with the problems named as `names` say. */
function checkedClientTls(tls: ClientTls, names: { ca: string; pair: string }, problems: string[]): ClientTls | undefined {
  const before = problems.length;
  if (tls.ca !== undefined) {
    try {
      checkedCa(tls.ca, 'its certificate');
    } catch (error) {
      problems.push(`  ${names.ca}: ${(error as Error).message} (got ${JSON.stringify(tls.paths.ca)})`);
    }
  }
  if (tls.cert !== undefined && tls.key !== undefined) {
    try {
      checkedPair(tls.cert, tls.key, tls.passphrase);
    } catch (error) {
      problems.push(`  ${names.pair}: ${(error as Error).message} (got ${JSON.stringify(tls.paths.key)})`);
    }
  }
  return problems.length === before ? tls : undefined;
}
