import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { credentials, ServerCredentials, type ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import { InvalidOptionsError } from '../errors.js';

/** Which option named a file, for messages: the options field and the flag a person typed. */
export interface OptionSource {
  field: string;
  flag: string;
}

/** What a PEM file must hold. */
export type PemKind = 'certificate' | 'private key';

const PEM_BLOCK: Record<PemKind, RegExp> = {
  certificate: /-----BEGIN CERTIFICATE-----/,
  'private key': /-----BEGIN (?:RSA |EC )?PRIVATE KEY-----/,
};

function fileProblem(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'not readable (permission denied)';
  if (code === 'EISDIR') return 'is a directory, not a file';
  return `cannot be read (${(err as Error).message})`;
}

/** Reads a whole file; a missing or unreadable one is an InvalidOptionsError naming the flag and the path. */
export function readOptionFile(path: string, source: OptionSource): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new InvalidOptionsError(source.field, `${source.flag} ${path}: ${fileProblem(err)}`);
  }
}

/**
 * Reads a PEM file holding at least one `kind` block; anything else (missing, unreadable,
 * DER, an encrypted key) is an InvalidOptionsError that names the flag and the path.
 */
export function readPemFile(path: string, kind: PemKind, source: OptionSource): Buffer {
  const data = readOptionFile(path, source);
  const text = data.toString('latin1');
  if (kind === 'private key' && text.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----')) {
    throw new InvalidOptionsError(
      source.field,
      `${source.flag} ${path}: the private key is encrypted; give an unencrypted PEM key (protect the file instead)`,
    );
  }
  if (!PEM_BLOCK[kind].test(text)) {
    const label = kind === 'certificate' ? 'CERTIFICATE' : 'PRIVATE KEY';
    throw new InvalidOptionsError(
      source.field,
      `${source.flag} ${path}: not a PEM ${kind} (no "-----BEGIN ${label}-----" block)`,
    );
  }
  return data;
}

function checkSecureContext(options: SecureContextOptions, field: string, what: string): void {
  try {
    createSecureContext(options);
  } catch (err) {
    throw new InvalidOptionsError(field, `${what}: ${(err as Error).message}`);
  }
}

/** Server TLS files: certificate chain and key, plus a client CA for mutual TLS. */
export interface ServerTlsFiles {
  certFile: string;
  keyFile: string;
  /** When set, every client must present a certificate signed by this CA (mTLS). */
  clientCaFile?: string;
}

/**
 * Server credentials from PEM files (`ServerCredentials.createSsl`); with a client CA the
 * TLS handshake itself refuses clients without a certificate it signed.
 */
export function serverTlsCredentials(files: ServerTlsFiles): ServerCredentials {
  const cert = readPemFile(files.certFile, 'certificate', { field: 'tlsCertFile', flag: '--tls-cert' });
  const key = readPemFile(files.keyFile, 'private key', { field: 'tlsKeyFile', flag: '--tls-key' });
  const ca =
    files.clientCaFile === undefined
      ? null
      : readPemFile(files.clientCaFile, 'certificate', { field: 'tlsClientCaFile', flag: '--tls-client-ca' });
  // createSsl defers parsing to bind time, where a bad file only fails the bind: check now.
  checkSecureContext(
    { cert, key },
    'tlsKeyFile',
    `--tls-key ${files.keyFile} does not fit --tls-cert ${files.certFile}`,
  );
  if (ca)
    checkSecureContext({ ca }, 'tlsClientCaFile', `--tls-client-ca ${files.clientCaFile}: not a usable CA`);
  return ServerCredentials.createSsl(ca, [{ cert_chain: cert, private_key: key }], ca !== null);
}

/** Client TLS settings for a connection to the controller. */
export interface ClientTlsFiles {
  /** CA bundle that signed the controller's certificate. Default: the system roots. */
  caFile?: string;
  /** Client certificate (mTLS); needs `keyFile`. */
  certFile?: string;
  /** Client private key (mTLS); needs `certFile`. */
  keyFile?: string;
  /** Name to verify the controller's certificate against, instead of the address's host. */
  serverName?: string;
}

const flags = { ca: '--tls-ca', cert: '--tls-cert', key: '--tls-key' };

/**
 * Channel credentials and options for a TLS connection to the controller. Files are read
 * now; a missing one, a certificate without its key or a key that does not fit its
 * certificate is an InvalidOptionsError naming the flag.
 */
export function clientTlsCredentials(files: ClientTlsFiles): {
  credentials: ChannelCredentials;
  channelOptions: ChannelOptions;
} {
  if ((files.certFile === undefined) !== (files.keyFile === undefined)) {
    const [given, missing] = files.certFile === undefined ? [flags.key, flags.cert] : [flags.cert, flags.key];
    throw new InvalidOptionsError(
      files.certFile === undefined ? 'tlsCertFile' : 'tlsKeyFile',
      `${given} needs ${missing} too (a client certificate and its key go together)`,
    );
  }
  const ca =
    files.caFile === undefined
      ? null
      : readPemFile(files.caFile, 'certificate', { field: 'tlsCaFile', flag: flags.ca });
  const cert =
    files.certFile === undefined
      ? undefined
      : readPemFile(files.certFile, 'certificate', { field: 'tlsCertFile', flag: flags.cert });
  const key =
    files.keyFile === undefined
      ? undefined
      : readPemFile(files.keyFile, 'private key', { field: 'tlsKeyFile', flag: flags.key });
  if (ca) checkSecureContext({ ca }, 'tlsCaFile', `${flags.ca} ${files.caFile}: not a usable CA`);
  if (cert && key) {
    checkSecureContext(
      { cert, key },
      'tlsKeyFile',
      `${flags.key} ${files.keyFile} does not fit ${flags.cert} ${files.certFile}`,
    );
  }
  const creds = credentials.createSsl(ca, key ?? null, cert ?? null);
  const channelOptions: ChannelOptions =
    files.serverName === undefined
      ? {}
      : { 'grpc.ssl_target_name_override': files.serverName, 'grpc.default_authority': files.serverName };
  return { credentials: creds, channelOptions };
}
