import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { requireBinary } from './process-registry.js';

export const OPENSSL_INSTALL_HINT = 'apt-get update && apt-get install -y openssl';

/** A PEM certificate and its unencrypted PEM private key, as file paths. */
export interface TestCertificateFiles {
  cert: string;
  key: string;
}

/** What {@link makeTestCertificates} wrote: a CA, a server certificate and client certificates. */
export interface TestCertificates {
  /** The directory every file is in. */
  readonly dir: string;
  /** The throwaway CA (self-signed); `ca.cert` is what clients trust and servers verify clients with. */
  readonly ca: TestCertificateFiles;
  /** The server certificate, signed by the CA, for `serverNames` (serverAuth). */
  readonly server: TestCertificateFiles;
  /** One client certificate per requested name (CN and DNS SAN = the name, clientAuth). */
  readonly clients: Readonly<Record<string, TestCertificateFiles>>;
  /** The client certificate made for `name`; throws when none was requested. */
  client(name: string): TestCertificateFiles;
}

export interface MakeTestCertificatesOptions {
  /** Client certificate names (agent ids, "operator", ...): [A-Za-z0-9._-]+. Default none. */
  clients?: readonly string[];
  /** Server names: DNS names and IP addresses for the SAN. Default ["localhost", "127.0.0.1"]. */
  serverNames?: readonly string[];
  /** Validity of every certificate, days, >= 1. Default 1. */
  validDays?: number;
}

const NAME = /^[A-Za-z0-9._-]+$/;
const run = promisify(execFile);

/**
 * Makes throwaway TLS material with the `openssl` CLI in `dir` (created if missing): an EC
 * P-256 CA, a server certificate and one client certificate per name, all signed by that
 * CA. Each call makes a new CA, so two calls give certificates that do not trust each
 * other. For tests only: keys are written unencrypted; use a temp dir.
 *
 * @example
 * ```ts
 * await using dir = tempDir('tls-');
 * const certs = await makeTestCertificates(dir.path, { clients: ['agent-1', 'operator'] });
 * // certs.ca.cert, certs.server.{cert,key}, certs.client('agent-1').{cert,key}
 * ```
 */
export async function makeTestCertificates(
  dir: string,
  options: MakeTestCertificatesOptions = {},
): Promise<TestCertificates> {
  const openssl = requireBinary('openssl', OPENSSL_INSTALL_HINT);
  const clients = options.clients ?? [];
  const serverNames = options.serverNames ?? ['localhost', '127.0.0.1'];
  const days = String(options.validDays ?? 1);
  for (const n of [...clients, ...serverNames]) {
    if (!NAME.test(n) && isIP(n) === 0) throw new Error(`certificate name must match ${NAME}, got ${n}`);
  }
  if (serverNames.length === 0) throw new Error('serverNames must name at least one DNS name or IP');
  mkdirSync(dir, { recursive: true });
  const file = (name: string): string => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

  const ca: TestCertificateFiles = { cert: file('ca.crt'), key: file('ca.key') };
  await run(openssl, [
    'req',
    '-x509',
    ...ec,
    '-keyout',
    ca.key,
    '-out',
    ca.cert,
    '-days',
    days,
    '-subj',
    `/CN=faultline test CA ${randomBytes(4).toString('hex')}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);

  const issue = async (base: string, cn: string, extensions: string): Promise<TestCertificateFiles> => {
    const out: TestCertificateFiles = { cert: file(`${base}.crt`), key: file(`${base}.key`) };
    const csr = file(`${base}.csr`);
    const ext = file(`${base}.ext`);
    writeFileSync(ext, extensions);
    await run(openssl, ['req', '-new', ...ec, '-keyout', out.key, '-out', csr, '-subj', `/CN=${cn}`]);
    await run(openssl, [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca.cert,
      '-CAkey',
      ca.key,
      '-set_serial',
      `0x${randomBytes(8).toString('hex')}`,
      '-days',
      days,
      '-extfile',
      ext,
      '-out',
      out.cert,
    ]);
    return out;
  };

  const san = serverNames.map((n) => (isIP(n) === 0 ? `DNS:${n}` : `IP:${n}`)).join(',');
  const server = await issue(
    'server',
    serverNames[0]!,
    `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n`,
  );
  const made: Record<string, TestCertificateFiles> = {};
  for (const name of clients) {
    made[name] = await issue(
      `client-${name}`,
      name,
      `subjectAltName=DNS:${name}\nextendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n`,
    );
  }
  return {
    dir,
    ca,
    server,
    clients: made,
    client(name: string): TestCertificateFiles {
      const c = made[name];
      if (!c) throw new Error(`no client certificate for ${JSON.stringify(name)}: pass it in clients`);
      return c;
    },
  };
}
