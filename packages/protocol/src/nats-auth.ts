/**
 * How every Faultline process authenticates to NATS and secures the connection: one set of
 * flags and environment variables ({@link NATS_AUTH_FLAGS}), one resolver that validates
 * them and turns them into `connect()` options, and one translation of the server's
 * refusals into a one-line {@link NatsRefusedError}.
 *
 * Secrets (passwords, tokens, nkey seeds, credentials) are read from files, or from the
 * environment (`FAULTLINE_NATS_PASSWORD`, `FAULTLINE_NATS_TOKEN`), never from a flag, so
 * they do not show in `ps` or shell history. Files are checked at startup, and read again
 * at every (re)connect, so a rotated file is picked up without a restart; a file that
 * cannot be read at a reconnect keeps the last good value.
 *
 * With credentials, a process uses the inbox prefix `_INBOX_<identity>` (the agent's id,
 * `detector`, `controller`, `cli`; the user name with user/password) unless told
 * otherwise, so the server can let each identity subscribe to its own replies only (see
 * deploy/nats/ and docs/security.md).
 *
 * @example
 * ```ts
 * const auth = resolveNatsAuthOptions(natsAuthFromFlags(flags, process.env, 'detector'));
 * log.info({ nats: url, auth: auth.description }, 'connecting');
 * try {
 *   nc = await connect({ servers: url, ...auth.connectionOptions });
 * } catch (err) {
 *   throw natsRefusalOf(err, url) ?? err; // "NATS at nats://… refused the credentials: Authorization Violation"
 * }
 * ```
 */
import { readFileSync, statSync } from 'node:fs';
import {
  credsAuthenticator,
  nkeyAuthenticator,
  nkeys,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
  type Authenticator,
  type NodeConnectionOptions,
} from '@nats-io/transport-node';
import { InvalidNatsAuthError, NatsRefusedError } from './errors.js';

/** NATS connection security: who this process is, what it trusts, and where its replies go. */
export interface NatsAuthOptions {
  /**
   * A NATS credentials file (`.creds`: a user JWT and its nkey seed, as `nsc generate creds`
   * writes), for servers in operator/JWT mode. Excludes the other ways of authenticating.
   */
  credsFile?: string;
  /** User name for user/password authentication; needs `passwordFile` or `password`. */
  user?: string;
  /** File holding the password (trailing newlines ignored). */
  passwordFile?: string;
  /** The password itself: only from the environment (`FAULTLINE_NATS_PASSWORD`), never a flag. */
  password?: string;
  /** File holding a token, for servers with token authentication. */
  tokenFile?: string;
  /** The token itself: only from the environment (`FAULTLINE_NATS_TOKEN`). */
  token?: string;
  /** File holding a user nkey seed (`SU…`, as `nsc` or `faultline nats-config` write it). */
  nkeyFile?: string;
  /** PEM CA certificate(s) that sign the server's certificate; enables TLS. */
  caFile?: string;
  /** PEM client certificate, for servers that verify clients (mTLS); needs `keyFile`. Enables TLS. */
  certFile?: string;
  /** PEM private key of `certFile`. */
  keyFile?: string;
  /**
   * Subject prefix of this connection's reply inboxes: the server must let it subscribe to
   * `<prefix>.>`. Default, when credentials are given: `_INBOX_<user>` with a user name,
   * else `_INBOX_<identity>` when `identity` is set; without credentials the client's
   * `_INBOX`. Subject tokens, no wildcards.
   */
  inboxPrefix?: string;
  /**
   * Who this process is in the server's permissions: an agent's id, `detector`,
   * `controller` or `cli`. Only names the default inbox prefix. A subject token.
   */
  identity?: string;
  /**
   * Where each field came from (a flag like `--nats-creds` or a variable like
   * `FAULTLINE_NATS_CREDS`), named in error messages. Default the field's name.
   */
  sources?: Partial<Record<NatsAuthField, string>>;
}

/** The settings of {@link NatsAuthOptions} that a flag or variable can set. */
export type NatsAuthField = Exclude<keyof NatsAuthOptions, 'sources' | 'identity'>;

/** The `connect()` options a {@link ResolvedNatsAuth} contributes. */
export type NatsConnectionSecurity = Pick<NodeConnectionOptions, 'authenticator' | 'tls' | 'inboxPrefix'>;

/** How a process authenticates. */
export type NatsAuthMethod = 'none' | 'creds' | 'user-password' | 'token' | 'nkey';

/** {@link NatsAuthOptions} validated, with the files checked. */
export interface ResolvedNatsAuth {
  readonly method: NatsAuthMethod;
  /** Whether the connection requires TLS (a CA or a client certificate was given). */
  readonly tls: boolean;
  /** The inbox prefix in use, or undefined for the client's default `_INBOX`. */
  readonly inboxPrefix: string | undefined;
  /** What is used, for logs; never a secret: `nkey UDXU…NF4 from /etc/faultline/agent.nk, TLS (CA /etc/ca.pem)`. */
  readonly description: string;
  /** Spread into `connect({ servers, ...connectionOptions })`. */
  readonly connectionOptions: NatsConnectionSecurity;
}

/** One NATS security flag with its environment variable. */
export interface NatsAuthFlag {
  readonly field: NatsAuthField;
  /** The long flag, `--nats-creds`. */
  readonly flag: string;
  /** Commander's key of the flag's value, `natsCreds`. */
  readonly key: keyof NatsAuthFlagValues;
  /** The value's placeholder in usage, `FILE`. */
  readonly arg: string;
  readonly env: string;
  readonly help: string;
}

/** Flag values as commander parses them (`--nats-creds` → `natsCreds`). */
export interface NatsAuthFlagValues {
  natsCreds?: string;
  natsUser?: string;
  natsPasswordFile?: string;
  natsTokenFile?: string;
  natsNkeyFile?: string;
  natsCa?: string;
  natsCert?: string;
  natsKey?: string;
  natsInboxPrefix?: string;
}

/** The NATS security flags every Faultline binary and NATS command takes, beside `--nats URL`. */
export const NATS_AUTH_FLAGS: readonly NatsAuthFlag[] = [
  {
    field: 'credsFile',
    flag: '--nats-creds',
    key: 'natsCreds',
    arg: 'FILE',
    env: 'FAULTLINE_NATS_CREDS',
    help: 'NATS credentials file (user JWT + nkey seed, from nsc)',
  },
  {
    field: 'nkeyFile',
    flag: '--nats-nkey-file',
    key: 'natsNkeyFile',
    arg: 'FILE',
    env: 'FAULTLINE_NATS_NKEY_FILE',
    help: 'file holding a NATS user nkey seed (SU…)',
  },
  {
    field: 'user',
    flag: '--nats-user',
    key: 'natsUser',
    arg: 'NAME',
    env: 'FAULTLINE_NATS_USER',
    help: 'NATS user name (password from --nats-password-file or FAULTLINE_NATS_PASSWORD)',
  },
  {
    field: 'passwordFile',
    flag: '--nats-password-file',
    key: 'natsPasswordFile',
    arg: 'FILE',
    env: 'FAULTLINE_NATS_PASSWORD_FILE',
    help: 'file holding the NATS password',
  },
  {
    field: 'tokenFile',
    flag: '--nats-token-file',
    key: 'natsTokenFile',
    arg: 'FILE',
    env: 'FAULTLINE_NATS_TOKEN_FILE',
    help: 'file holding a NATS token (or FAULTLINE_NATS_TOKEN)',
  },
  {
    field: 'caFile',
    flag: '--nats-ca',
    key: 'natsCa',
    arg: 'FILE',
    env: 'FAULTLINE_NATS_CA',
    help: "CA certificate(s) of the NATS server's certificate; turns TLS on",
  },
  {
    field: 'certFile',
    flag: '--nats-cert',
    key: 'natsCert',
    arg: 'FILE',
    env: 'FAULTLINE_NATS_CERT',
    help: 'client certificate for TLS to NATS (with --nats-key)',
  },
  {
    field: 'keyFile',
    flag: '--nats-key',
    key: 'natsKey',
    arg: 'FILE',
    env: 'FAULTLINE_NATS_KEY',
    help: 'private key of --nats-cert',
  },
  {
    field: 'inboxPrefix',
    flag: '--nats-inbox-prefix',
    key: 'natsInboxPrefix',
    arg: 'PREFIX',
    env: 'FAULTLINE_NATS_INBOX_PREFIX',
    help: 'prefix of reply inboxes the server lets this client subscribe to (default with credentials: _INBOX_<user or role>)',
  },
];

/** Secrets that come from the environment only, never from a flag. */
export const NATS_SECRET_ENV = {
  password: 'FAULTLINE_NATS_PASSWORD',
  token: 'FAULTLINE_NATS_TOKEN',
} as const;

/** Every environment variable that configures NATS security (not the URL). */
export const NATS_SECURITY_ENV: readonly string[] = [
  ...NATS_AUTH_FLAGS.map((f) => f.env),
  NATS_SECRET_ENV.password,
  NATS_SECRET_ENV.token,
];

/**
 * `env` without the NATS security variables: for processes that talk to a different,
 * local NATS (the dev stack) and must not inherit credentials meant for another server.
 */
export function withoutNatsSecurityEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const name of NATS_SECURITY_ENV) delete out[name];
  return out;
}

/**
 * Reads the NATS security settings from flags, then the environment (flags win; an empty
 * variable counts as unset). Each setting remembers where it came from, for messages.
 * Validate with {@link resolveNatsAuthOptions}.
 */
export function natsAuthFromFlags(
  flags: NatsAuthFlagValues,
  env: Readonly<Record<string, string | undefined>> = process.env,
  identity?: string,
): NatsAuthOptions {
  const out: NatsAuthOptions = { sources: {} };
  const sources = out.sources as Partial<Record<NatsAuthField, string>>;
  for (const f of NATS_AUTH_FLAGS) {
    const fromFlag = flags[f.key];
    const fromEnv = env[f.env];
    if (fromFlag !== undefined) {
      out[f.field] = fromFlag;
      sources[f.field] = f.flag;
    } else if (fromEnv !== undefined && fromEnv !== '') {
      out[f.field] = fromEnv;
      sources[f.field] = f.env;
    }
  }
  const password = env[NATS_SECRET_ENV.password];
  if (password !== undefined && password !== '') {
    out.password = password;
    sources.password = NATS_SECRET_ENV.password;
  }
  const token = env[NATS_SECRET_ENV.token];
  if (token !== undefined && token !== '') {
    out.token = token;
    sources.token = NATS_SECRET_ENV.token;
  }
  if (identity !== undefined) out.identity = identity;
  return out;
}

const PREFIX = /^[^\s.*>]+(\.[^\s.*>]+)*$/;
const IDENTITY = /^[^\s.*>]+$/;

/** Reads a file named by a setting; the message names the setting and the file. */
function readSetting(source: string, path: string): Buffer {
  let size: number;
  try {
    const st = statSync(path);
    if (st.isDirectory())
      throw new InvalidNatsAuthError(source, `${source}: ${path} is a directory, not a file`);
    size = st.size;
  } catch (err) {
    if (err instanceof InvalidNatsAuthError) throw err;
    const code = (err as { code?: string }).code;
    throw new InvalidNatsAuthError(
      source,
      code === 'ENOENT'
        ? `${source}: ${path} does not exist`
        : `${source}: cannot read ${path}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (size > 1024 * 1024) {
    throw new InvalidNatsAuthError(
      source,
      `${source}: ${path} is ${size} bytes, too large for a NATS secret`,
    );
  }
  try {
    return readFileSync(path);
  } catch (err) {
    throw new InvalidNatsAuthError(source, `${source}: cannot read ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** A secret held in a file: its content without trailing line breaks; empty is an error. */
function readSecret(source: string, path: string): string {
  const text = readSetting(source, path)
    .toString('utf8')
    .replace(/[\r\n]+$/, '');
  if (text === '') throw new InvalidNatsAuthError(source, `${source}: ${path} is empty`);
  if (/[\r\n]/.test(text)) {
    throw new InvalidNatsAuthError(source, `${source}: ${path} must hold the secret on one line`);
  }
  return text;
}

/**
 * A value read from a file at every connect, starting from the one checked at startup; if
 * the file cannot be read (or no longer parses) at a reconnect, the last good value stays.
 */
function rereadable<T>(initial: T, read: () => T): () => T {
  let last = initial;
  return () => {
    try {
      last = read();
    } catch {
      // keep the last good value: a rotation caught half-written must not cut the connection
    }
    return last;
  };
}

/** Checks a user nkey seed (`SU…`); returns its public key. */
function checkUserSeed(source: string, path: string, seed: string): string {
  if (!/^SU[A-Z2-7]+$/.test(seed)) {
    throw new InvalidNatsAuthError(
      source,
      `${source}: ${path} does not hold a NATS user nkey seed (one line starting with SU)`,
    );
  }
  try {
    const pair = nkeys.fromSeed(new TextEncoder().encode(seed));
    const pub = pair.getPublicKey();
    if (!pub.startsWith('U')) throw new Error(`a seed of a ${pub[0]} key, not of a user`);
    return pub;
  } catch (err) {
    throw new InvalidNatsAuthError(
      source,
      `${source}: ${path} does not hold a valid NATS user nkey seed: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/** The JWT and seed of a `.creds` file: the first two `-----BEGIN …-----` / `------END …------` blocks. */
export function parseNatsCreds(text: string): { jwt: string; seed: string } | undefined {
  const blocks: string[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length && blocks.length < 2; i++) {
    if (!/^\s*-{3,}\s*BEGIN\b.*-{3,}\s*$/.test(lines[i] ?? '')) continue;
    const content: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !/^\s*-{3,}\s*END\b.*-{3,}\s*$/.test(lines[j] ?? ''); j++) {
      if ((lines[j] ?? '').trim() !== '') content.push((lines[j] ?? '').trim());
    }
    if (j >= lines.length || content.length !== 1) return undefined;
    blocks.push(content[0] as string);
    i = j;
  }
  const [jwt, seed] = blocks;
  if (jwt === undefined || seed === undefined) return undefined;
  return { jwt, seed };
}

function checkCreds(source: string, path: string, bytes: Buffer): string {
  const parsed = parseNatsCreds(bytes.toString('utf8'));
  const malformed = (why: string): InvalidNatsAuthError =>
    new InvalidNatsAuthError(
      source,
      `${source}: ${path} is not a NATS credentials file (${why}; expected a user JWT block and an nkey seed block, as \`nsc generate creds\` writes)`,
    );
  if (parsed === undefined) throw malformed('no JWT and seed blocks found');
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(parsed.jwt)) {
    throw malformed('the first block is not a JWT');
  }
  const pub = checkUserSeed(source, path, parsed.seed);
  // The client's own parser must accept it too: sign a nonce the way the handshake will.
  try {
    credsAuthenticator(new Uint8Array(bytes))('nonce');
  } catch (err) {
    throw malformed((err as Error).message);
  }
  return pub;
}

const abbreviate = (key: string): string => `${key.slice(0, 4)}…${key.slice(-4)}`;

/**
 * Validates NATS security settings and checks their files: at most one way of
 * authenticating (creds, nkey, user/password, token); a user with a password and a
 * password with a user; a client certificate with its key; every file present, readable,
 * and well formed (credentials parse and sign, a seed is a user seed). Throws
 * {@link InvalidNatsAuthError} naming the flag or variable and the file. No settings at
 * all is valid: no authentication, no TLS.
 */
export function resolveNatsAuthOptions(raw: NatsAuthOptions = {}): ResolvedNatsAuth {
  const src = (field: NatsAuthField): string => raw.sources?.[field] ?? field;
  const methods: Array<{ method: NatsAuthMethod; field: NatsAuthField }> = [];
  if (raw.credsFile !== undefined) methods.push({ method: 'creds', field: 'credsFile' });
  if (raw.nkeyFile !== undefined) methods.push({ method: 'nkey', field: 'nkeyFile' });
  if (raw.user !== undefined) methods.push({ method: 'user-password', field: 'user' });
  if (raw.tokenFile !== undefined || raw.token !== undefined) {
    methods.push({ method: 'token', field: raw.tokenFile !== undefined ? 'tokenFile' : 'token' });
  }
  if (methods.length > 1) {
    throw new InvalidNatsAuthError(
      src(methods[1]!.field),
      `${methods.map((m) => src(m.field)).join(' and ')} exclude each other: give one way to authenticate to NATS`,
    );
  }
  const hasPassword = raw.passwordFile !== undefined || raw.password !== undefined;
  if (hasPassword && raw.user === undefined) {
    const field = raw.passwordFile !== undefined ? 'passwordFile' : 'password';
    throw new InvalidNatsAuthError(
      src(field),
      `${src(field)} needs a user name: --nats-user or FAULTLINE_NATS_USER`,
    );
  }
  if (raw.passwordFile !== undefined && raw.password !== undefined) {
    throw new InvalidNatsAuthError(
      src('passwordFile'),
      `${src('passwordFile')} and ${src('password')} exclude each other: give the password once`,
    );
  }
  if (raw.tokenFile !== undefined && raw.token !== undefined) {
    throw new InvalidNatsAuthError(
      src('tokenFile'),
      `${src('tokenFile')} and ${src('token')} exclude each other: give the token once`,
    );
  }
  if (raw.user !== undefined && !hasPassword) {
    throw new InvalidNatsAuthError(
      src('user'),
      `${src('user')} needs a password: --nats-password-file FILE, FAULTLINE_NATS_PASSWORD_FILE or FAULTLINE_NATS_PASSWORD`,
    );
  }
  if (raw.user !== undefined && (raw.user === '' || /\s/.test(raw.user))) {
    throw new InvalidNatsAuthError(
      src('user'),
      `${src('user')} must be a user name without whitespace, got ${JSON.stringify(raw.user)}`,
    );
  }
  const method = methods[0]?.method ?? 'none';

  let authenticator: Authenticator | undefined;
  let who = 'no authentication';
  if (raw.credsFile !== undefined) {
    const path = raw.credsFile;
    const bytes = readSetting(src('credsFile'), path);
    const pub = checkCreds(src('credsFile'), path, bytes);
    authenticator = credsAuthenticator(
      rereadable(new Uint8Array(bytes), () => new Uint8Array(readFileSync(path))),
    );
    who = `credentials of ${abbreviate(pub)} from ${path}`;
  } else if (raw.nkeyFile !== undefined) {
    const path = raw.nkeyFile;
    const seed = readSecret(src('nkeyFile'), path).trim();
    const pub = checkUserSeed(src('nkeyFile'), path, seed);
    const encode = (s: string): Uint8Array => new TextEncoder().encode(s);
    authenticator = nkeyAuthenticator(
      rereadable(encode(seed), () => {
        const next = readFileSync(path, 'utf8').trim();
        checkUserSeed(src('nkeyFile'), path, next);
        return encode(next);
      }),
    );
    who = `nkey ${abbreviate(pub)} from ${path}`;
  } else if (raw.user !== undefined) {
    const user = raw.user;
    if (raw.passwordFile !== undefined) {
      const path = raw.passwordFile;
      const source = src('passwordFile');
      const password = readSecret(source, path);
      authenticator = usernamePasswordAuthenticator(
        user,
        rereadable(password, () => readSecret(source, path)),
      );
      who = `user ${user}, password from ${path}`;
    } else {
      if (raw.password === '') {
        throw new InvalidNatsAuthError(src('password'), `${src('password')} is empty`);
      }
      authenticator = usernamePasswordAuthenticator(user, raw.password as string);
      who = `user ${user}, password from ${src('password')}`;
    }
  } else if (raw.tokenFile !== undefined) {
    const path = raw.tokenFile;
    const source = src('tokenFile');
    const token = readSecret(source, path);
    authenticator = tokenAuthenticator(rereadable(token, () => readSecret(source, path)));
    who = `token from ${path}`;
  } else if (raw.token !== undefined) {
    if (raw.token === '') throw new InvalidNatsAuthError(src('token'), `${src('token')} is empty`);
    authenticator = tokenAuthenticator(raw.token);
    who = `token from ${src('token')}`;
  }

  if ((raw.certFile === undefined) !== (raw.keyFile === undefined)) {
    const [given, missing] =
      raw.certFile !== undefined
        ? (['certFile', '--nats-key'] as const)
        : (['keyFile', '--nats-cert'] as const);
    throw new InvalidNatsAuthError(
      src(given),
      `${src(given)} needs ${missing} too: a client certificate goes with its private key`,
    );
  }
  const tls: NonNullable<NatsConnectionSecurity['tls']> = {};
  const tlsParts: string[] = [];
  for (const [field, key, label] of [
    ['caFile', 'caFile', 'CA'],
    ['certFile', 'certFile', 'client certificate'],
    ['keyFile', 'keyFile', 'key'],
  ] as const) {
    const path = raw[field];
    if (path === undefined) continue;
    const text = readSetting(src(field), path).toString('utf8');
    if (!text.includes('-----BEGIN ')) {
      throw new InvalidNatsAuthError(src(field), `${src(field)}: ${path} is not a PEM file`);
    }
    tls[key] = path;
    if (field !== 'keyFile') tlsParts.push(`${label} ${path}`);
  }
  const useTls = Object.keys(tls).length > 0;

  if (raw.identity !== undefined && !IDENTITY.test(raw.identity)) {
    throw new InvalidNatsAuthError(
      'identity',
      `identity must be a NATS subject token (no '.', '*', '>' or whitespace), got ${JSON.stringify(raw.identity)}`,
    );
  }
  let inboxPrefix = raw.inboxPrefix;
  if (inboxPrefix !== undefined && !PREFIX.test(inboxPrefix)) {
    throw new InvalidNatsAuthError(
      src('inboxPrefix'),
      `${src('inboxPrefix')} must be subject tokens separated by '.', without wildcards or whitespace, got ${JSON.stringify(inboxPrefix)}`,
    );
  }
  // The server knows a user/password client by its user name; other clients by their role.
  const inboxOwner = raw.user ?? raw.identity;
  if (inboxPrefix === undefined && method !== 'none' && inboxOwner !== undefined) {
    inboxPrefix = `_INBOX_${inboxOwner}`;
  }

  const connectionOptions: NatsConnectionSecurity = {};
  if (authenticator !== undefined) connectionOptions.authenticator = authenticator;
  if (useTls) connectionOptions.tls = tls;
  if (inboxPrefix !== undefined) connectionOptions.inboxPrefix = inboxPrefix;
  const description =
    who +
    (useTls ? `, TLS (${tlsParts.length > 0 ? tlsParts.join(', ') : 'system CAs'})` : '') +
    (inboxPrefix !== undefined ? `, inbox ${inboxPrefix}` : '');
  return Object.freeze({ method, tls: useTls, inboxPrefix, description, connectionOptions });
}

interface NamedError {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  cause?: unknown;
  operation?: unknown;
  subject?: unknown;
}

const TLS_CODES =
  /^(ERR_TLS_|ERR_SSL_|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_(GET|VERIFY)_|ERR_OSSL)/;

/**
 * The {@link NatsRefusedError} behind `err` (searching its `cause` chain), or undefined
 * when the server did not refuse anything (a timeout, no server, a JetStream API error):
 * - `AuthorizationError` / `UserAuthenticationExpiredError`: the credentials;
 * - `PermissionViolationError`: a publish or subscription, with its subject (an inbox
 *   subscription gets a hint about the inbox prefix);
 * - a TLS handshake or certificate failure.
 * `server` is the URL(s) the client used, named in the message.
 */
export function natsRefusalOf(err: unknown, server: string): NatsRefusedError | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 8 && e !== null && typeof e === 'object'; depth++) {
    if (e instanceof NatsRefusedError) return e;
    const n = e as NamedError;
    const message = typeof n.message === 'string' ? n.message : '';
    if (n.name === 'AuthorizationError' || n.name === 'UserAuthenticationExpiredError') {
      return new NatsRefusedError(server, 'credentials', undefined, message || 'Authorization Violation', {
        cause: err,
      });
    }
    if (n.name === 'PermissionViolationError') {
      const subscribe = n.operation === 'subscription';
      const subject = typeof n.subject === 'string' && n.subject !== '' ? n.subject : undefined;
      const inbox = subscribe && subject !== undefined && /^_INBOX/.test(subject);
      return new NatsRefusedError(
        server,
        subscribe ? 'subscribe' : 'publish',
        subject,
        'Permissions Violation',
        {
          cause: err,
          ...(inbox
            ? {
                hint: 'replies need an inbox prefix the server allows: --nats-inbox-prefix or FAULTLINE_NATS_INBOX_PREFIX',
              }
            : {}),
        },
      );
    }
    const code = typeof n.code === 'string' ? n.code : '';
    if (TLS_CODES.test(code) || /\bTLS\b/.test(message)) {
      return new NatsRefusedError(server, 'tls', undefined, message || code, { cause: err });
    }
    e = n.cause;
  }
  return undefined;
}
