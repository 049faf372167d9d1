import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { credentials, type ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import { InvalidOptionsError } from './errors.js';

/**
 * How the agent connects and authenticates to the controller. Everything is off by default
 * (plaintext, no token: the loopback dev stack). With the controller's `--tls-client-ca`
 * the agent authenticates by its certificate, whose CN or a DNS SAN must be its agent id;
 * without it, by an agent token from the controller's `--agent-token-file`.
 */
export interface ControlCredentialsOptions {
  /** Connect over TLS, trusting the system CAs unless `tlsCaFile` is set. Implied by `tlsCaFile` and `tlsCertFile`. Default false. */
  tls?: boolean;
  /** PEM CA bundle that signed the controller's certificate. */
  tlsCaFile?: string;
  /** PEM client certificate (mTLS), naming the agent id as CN or DNS SAN; needs `tlsKeyFile`. */
  tlsCertFile?: string;
  /** PEM private key (unencrypted) of `tlsCertFile`. */
  tlsKeyFile?: string;
  /** Name to verify the controller's certificate against instead of the address's host. */
  tlsServerName?: string;
  /** File whose first token is sent as `authorization: Bearer <token>` (one per line, `#` comments). */
  tokenFile?: string;
}

/** What {@link loadControlCredentials} read: channel credentials and the token, if any. */
export interface ControlCredentials {
  credentials: ChannelCredentials;
  channelOptions: ChannelOptions;
  /** Never logged. */
  token: string | undefined;
  tls: boolean;
}

const FLAGS = {
  tlsCaFile: '--tls-ca',
  tlsCertFile: '--tls-cert',
  tlsKeyFile: '--tls-key',
  tlsServerName: '--tls-server-name',
  tokenFile: '--token-file',
} as const;

function read(field: keyof typeof FLAGS, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const problem =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES' || code === 'EPERM'
          ? 'not readable (permission denied)'
          : code === 'EISDIR'
            ? 'is a directory, not a file'
            : `cannot be read (${(err as Error).message})`;
    throw new InvalidOptionsError(field, `${FLAGS[field]} ${path}: ${problem}`);
  }
}

function readPem(field: 'tlsCaFile' | 'tlsCertFile' | 'tlsKeyFile', path: string): Buffer {
  const data = read(field, path);
  const text = data.toString('latin1');
  const key = field === 'tlsKeyFile';
  if (key && text.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----')) {
    throw new InvalidOptionsError(
      field,
      `${FLAGS[field]} ${path}: the private key is encrypted; give an unencrypted PEM key (protect the file instead)`,
    );
  }
  const block = key ? /-----BEGIN (?:RSA |EC )?PRIVATE KEY-----/ : /-----BEGIN CERTIFICATE-----/;
  if (!block.test(text)) {
    throw new InvalidOptionsError(
      field,
      `${FLAGS[field]} ${path}: not a PEM ${key ? 'private key' : 'certificate'} ` +
        `(no "-----BEGIN ${key ? 'PRIVATE KEY' : 'CERTIFICATE'}-----" block)`,
    );
  }
  return data;
}

function check(options: SecureContextOptions, field: keyof typeof FLAGS, what: string): void {
  try {
    createSecureContext(options);
  } catch (err) {
    throw new InvalidOptionsError(field, `${what}: ${(err as Error).message}`);
  }
}

/** Shortest token accepted, characters (as the controller requires). */
const MIN_TOKEN_LENGTH = 16;

/** The first token of a token file; a file without one, or a malformed line, names the flag, file and line. */
export function readAgentToken(path: string): string {
  const lines = read('tokenFile', path).toString('utf8').split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (!/^[\x21-\x7e]+$/.test(line)) {
      throw new InvalidOptionsError(
        'tokenFile',
        `--token-file ${path}: line ${i + 1}: a token must be printable ASCII without spaces`,
      );
    }
    if (line.length < MIN_TOKEN_LENGTH) {
      throw new InvalidOptionsError(
        'tokenFile',
        `--token-file ${path}: line ${i + 1}: a token must be at least ${MIN_TOKEN_LENGTH} characters, got ${line.length}`,
      );
    }
    return line;
  }
  throw new InvalidOptionsError('tokenFile', `--token-file ${path}: the file holds no token`);
}

/**
 * Reads the TLS files and the token file now, so that a missing or malformed one is an
 * InvalidOptionsError at start that names the flag and the file, not a reconnect loop.
 */
export function loadControlCredentials(o: ControlCredentialsOptions): ControlCredentials {
  const token = o.tokenFile === undefined ? undefined : readAgentToken(o.tokenFile);
  const tls =
    o.tls === true || o.tlsCaFile !== undefined || o.tlsCertFile !== undefined || o.tlsKeyFile !== undefined;
  if (!tls) {
    if (o.tlsServerName !== undefined) {
      throw new InvalidOptionsError(
        'tlsServerName',
        '--tls-server-name needs TLS: pass --tls or --tls-ca FILE',
      );
    }
    return { credentials: credentials.createInsecure(), channelOptions: {}, token, tls };
  }
  if ((o.tlsCertFile === undefined) !== (o.tlsKeyFile === undefined)) {
    throw new InvalidOptionsError(
      o.tlsCertFile === undefined ? 'tlsCertFile' : 'tlsKeyFile',
      `${o.tlsCertFile === undefined ? '--tls-key needs --tls-cert' : '--tls-cert needs --tls-key'} too ` +
        '(a client certificate and its key go together)',
    );
  }
  const ca = o.tlsCaFile === undefined ? null : readPem('tlsCaFile', o.tlsCaFile);
  const cert = o.tlsCertFile === undefined ? null : readPem('tlsCertFile', o.tlsCertFile);
  const key = o.tlsKeyFile === undefined ? null : readPem('tlsKeyFile', o.tlsKeyFile);
  if (ca) check({ ca }, 'tlsCaFile', `--tls-ca ${o.tlsCaFile}: not a usable CA`);
  if (cert && key) {
    check({ cert, key }, 'tlsKeyFile', `--tls-key ${o.tlsKeyFile} does not fit --tls-cert ${o.tlsCertFile}`);
  }
  const channelOptions: ChannelOptions =
    o.tlsServerName === undefined
      ? {}
      : { 'grpc.ssl_target_name_override': o.tlsServerName, 'grpc.default_authority': o.tlsServerName };
  return { credentials: credentials.createSsl(ca, key, cert), channelOptions, token, tls };
}
