import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A self-signed certificate (P-256, CN=opal-config-example, valid until 2126) with its key, and a
 * key that is not its: for tests of configuration that checks a certificate and key go together.
 * Trusted by nothing; made once with openssl, so tests need no openssl to run.
 */
export const EXAMPLE_CERTIFICATE = {
  cert: `-----BEGIN CERTIFICATE-----
MIIBlDCCATmgAwIBAgIUbuDrFi1WTHllDJOHf6wCo2Jj28kwCgYIKoZIzj0EAwIw
HjEcMBoGA1UEAwwTb3BhbC1jb25maWctZXhhbXBsZTAgFw0yNjExMjgxNTIyMzVa
GA8yMTI2MTEwNDE1MjIzNVowHjEcMBoGA1UEAwwTb3BhbC1jb25maWctZXhhbXBs
ZTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABNIr1l2Ti17QV9Q3vcrHkzMifXYj
/VcWrgr82vAy/ILTWlUyPZAvtJ8Z/z6vICgw0MAJhvRV8NNJtFjUQOE597OjUzBR
MB0GA1UdDgQWBBTxZ8dRgT1/xuRU1mvNyujRdwmb+TAfBgNVHSMEGDAWgBTxZ8dR
gT1/xuRU1mvNyujRdwmb+TAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kA
MEYCIQDUBEmJXcLnDS0h5u+EDDWgZ4NEh82L5fKrU0iPCGR2oQIhAOQIdMVfOB8A
7DKbBq/14m/vhSOkK47mBYGJOk8cZ2nY
-----END CERTIFICATE-----
`,
  key: `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgpaeuco9kOVcCjEq/
CpWA+VYIPZdhOjL8eC+XBJn0rlChRANCAATSK9Zdk4te0FfUN73Kx5MzIn12I/1X
Fq4K/NrwMvyC01pVMj2QL7SfGf8+ryAoMNDACYb0VfDTSbRY1EDhOfez
-----END PRIVATE KEY-----
`,
  otherKey: `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgW6BcEOgdfFLkuySp
IVm4NzQIdlRczm9pFeEF804M2PqhRANCAATTyLzznDbL31uHcPcT+cdmh25UgV79
AlJcOyc+xpWKRPNMQXeFduyEKVpbjFJ4s5e7MAr8IZEcX60QYEMVy9C9
-----END PRIVATE KEY-----
`,
} as const;

/** Writes EXAMPLE_CERTIFICATE's files into `dir`; their paths. */
export function writeExampleCertificate(dir: string): { cert: string; key: string; otherKey: string } {
  const paths = { cert: join(dir, 'example.crt'), key: join(dir, 'example.key'), otherKey: join(dir, 'other.key') };
  for (const k of ['cert', 'key', 'otherKey'] as const) writeFileSync(paths[k], EXAMPLE_CERTIFICATE[k]);
  return paths;
}
