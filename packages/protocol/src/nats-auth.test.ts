import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nkeys } from '@nats-io/transport-node';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidNatsAuthError, NatsRefusedError } from './errors.js';
import {
  natsAuthFromFlags,
  natsRefusalOf,
  parseNatsCreds,
  resolveNatsAuthOptions,
  withoutNatsSecurityEnv,
} from './nats-auth.js';

const dir = mkdtempSync(join(tmpdir(), 'faultline-nats-auth-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}

const user = nkeys.createUser();
const seed = new TextDecoder().decode(user.getSeed());
const jwt = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJzdWIiOiJVIn0.c2lnbmF0dXJl';
const creds =
  `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n` +
  '************************* IMPORTANT *************************\n' +
  'NKEY Seed printed below can be used to sign and prove identity.\n\n' +
  `-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`;
const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

function errorOf(fn: () => unknown): InvalidNatsAuthError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidNatsAuthError);
    return err as InvalidNatsAuthError;
  }
  throw new Error('expected an InvalidNatsAuthError');
}

describe('natsAuthFromFlags', () => {
  it('takes flags over the environment and remembers where each setting came from', () => {
    const o = natsAuthFromFlags(
      { natsUser: 'cli', natsCa: '/flag/ca.pem' },
      {
        FAULTLINE_NATS_USER: 'env-user',
        FAULTLINE_NATS_PASSWORD_FILE: '/env/pw',
        FAULTLINE_NATS_CA: '/env/ca.pem',
        FAULTLINE_NATS_TOKEN: '',
      },
      'cli',
    );
    expect(o).toEqual({
      user: 'cli',
      passwordFile: '/env/pw',
      caFile: '/flag/ca.pem',
      identity: 'cli',
      sources: { user: '--nats-user', passwordFile: 'FAULTLINE_NATS_PASSWORD_FILE', caFile: '--nats-ca' },
    });
  });

  it('reads passwords and tokens from the environment only', () => {
    const o = natsAuthFromFlags({}, { FAULTLINE_NATS_PASSWORD: 's3cret', FAULTLINE_NATS_TOKEN: 'tok' });
    expect(o.password).toBe('s3cret');
    expect(o.token).toBe('tok');
    expect(o.sources).toEqual({ password: 'FAULTLINE_NATS_PASSWORD', token: 'FAULTLINE_NATS_TOKEN' });
  });
});

describe('resolveNatsAuthOptions', () => {
  it('is no authentication and no TLS without settings', () => {
    const r = resolveNatsAuthOptions({ identity: 'detector' });
    expect(r.method).toBe('none');
    expect(r.tls).toBe(false);
    expect(r.inboxPrefix).toBeUndefined();
    expect(r.connectionOptions).toEqual({});
    expect(r.description).toBe('no authentication');
  });

  it('signs the server nonce with the seed of a creds file and names the JWT in the auth', () => {
    const path = file('agent.creds', creds);
    const r = resolveNatsAuthOptions({ credsFile: path, identity: 'agent-1' });
    expect(r.method).toBe('creds');
    expect(r.inboxPrefix).toBe('_INBOX_agent-1');
    const auth = r.connectionOptions.authenticator as unknown as (nonce?: string) => Record<string, unknown>;
    const out = auth('a-nonce');
    expect(out.jwt).toBe(jwt);
    const sig = Buffer.from(out.sig as string, 'base64url');
    expect(user.verify(new TextEncoder().encode('a-nonce'), new Uint8Array(sig))).toBe(true);
    expect(r.description).toContain(path);
    expect(r.description).not.toContain(seed);
  });

  it('signs with an nkey seed file, and rereads it at the next connect', () => {
    const path = file('agent.nk', `${seed}\n`);
    const r = resolveNatsAuthOptions({ nkeyFile: path });
    const auth = r.connectionOptions.authenticator as unknown as (nonce?: string) => Record<string, unknown>;
    expect(auth('n1').nkey).toBe(user.getPublicKey());
    const next = nkeys.createUser();
    writeFileSync(path, new TextDecoder().decode(next.getSeed()));
    expect(auth('n2').nkey).toBe(next.getPublicKey());
    // A half-written rotation keeps the last good seed.
    writeFileSync(path, 'SUAB');
    expect(auth('n3').nkey).toBe(next.getPublicKey());
    expect(r.inboxPrefix).toBeUndefined(); // no identity given
  });

  it('reads a password file without its trailing newline', () => {
    const path = file('pw', 'hunter2\n');
    const r = resolveNatsAuthOptions({ user: 'cli', passwordFile: path, identity: 'cli' });
    const auth = r.connectionOptions.authenticator as unknown as (nonce?: string) => Record<string, unknown>;
    expect(auth()).toEqual({ user: 'cli', pass: 'hunter2' });
    expect(r.description).toBe(`user cli, password from ${path}, inbox _INBOX_cli`);
    // The server knows this client by its user name: its inbox is named after the user.
    expect(resolveNatsAuthOptions({ user: 'reader', passwordFile: path, identity: 'cli' }).inboxPrefix).toBe(
      '_INBOX_reader',
    );
  });

  it('reads a token file', () => {
    const r = resolveNatsAuthOptions({ tokenFile: file('token', 'tok-123\r\n') });
    const auth = r.connectionOptions.authenticator as unknown as (nonce?: string) => Record<string, unknown>;
    expect(auth()).toEqual({ auth_token: 'tok-123' });
  });

  it('passes TLS files and an explicit inbox prefix through', () => {
    const ca = file('ca.pem', pem);
    const cert = file('cert.pem', pem);
    const key = file('key.pem', '-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n');
    const r = resolveNatsAuthOptions({ caFile: ca, certFile: cert, keyFile: key, inboxPrefix: 'replies.me' });
    expect(r.tls).toBe(true);
    expect(r.connectionOptions).toEqual({
      tls: { caFile: ca, certFile: cert, keyFile: key },
      inboxPrefix: 'replies.me',
    });
  });

  it('refuses two ways of authenticating, naming both sources', () => {
    const o = natsAuthFromFlags({ natsCreds: '/a.creds' }, { FAULTLINE_NATS_NKEY_FILE: '/b.nk' });
    expect(errorOf(() => resolveNatsAuthOptions(o)).message).toBe(
      '--nats-creds and FAULTLINE_NATS_NKEY_FILE exclude each other: give one way to authenticate to NATS',
    );
  });

  it('refuses a user without a password and a password without a user', () => {
    expect(errorOf(() => resolveNatsAuthOptions(natsAuthFromFlags({ natsUser: 'cli' }, {}))).message).toBe(
      '--nats-user needs a password: --nats-password-file FILE, FAULTLINE_NATS_PASSWORD_FILE or FAULTLINE_NATS_PASSWORD',
    );
    const e = errorOf(() => resolveNatsAuthOptions(natsAuthFromFlags({ natsPasswordFile: '/pw' }, {})));
    expect(e.source).toBe('--nats-password-file');
    expect(e.message).toBe('--nats-password-file needs a user name: --nats-user or FAULTLINE_NATS_USER');
  });

  it('names the flag and the file when a file is missing, empty or a directory', () => {
    const missing = join(dir, 'nope.creds');
    expect(errorOf(() => resolveNatsAuthOptions(natsAuthFromFlags({ natsCreds: missing }, {}))).message).toBe(
      `--nats-creds: ${missing} does not exist`,
    );
    const empty = file('empty-pw', '\n');
    expect(
      errorOf(() =>
        resolveNatsAuthOptions(natsAuthFromFlags({ natsUser: 'u' }, { FAULTLINE_NATS_PASSWORD_FILE: empty })),
      ).message,
    ).toBe(`FAULTLINE_NATS_PASSWORD_FILE: ${empty} is empty`);
    expect(errorOf(() => resolveNatsAuthOptions(natsAuthFromFlags({ natsTokenFile: dir }, {}))).message).toBe(
      `--nats-token-file: ${dir} is a directory, not a file`,
    );
  });

  it.skipIf(process.getuid?.() === 0)('names the file that cannot be read', () => {
    const path = file('locked.nk', seed);
    chmodSync(path, 0o000);
    expect(
      errorOf(() => resolveNatsAuthOptions(natsAuthFromFlags({ natsNkeyFile: path }, {}))).message,
    ).toMatch(new RegExp(`^--nats-nkey-file: cannot read ${path}: EACCES`));
  });

  it('refuses malformed credentials and seeds', () => {
    const noSeed = file(
      'jwt-only.creds',
      `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n`,
    );
    expect(errorOf(() => resolveNatsAuthOptions(natsAuthFromFlags({ natsCreds: noSeed }, {}))).message).toBe(
      `--nats-creds: ${noSeed} is not a NATS credentials file (no JWT and seed blocks found; expected a user JWT block and an nkey seed block, as \`nsc generate creds\` writes)`,
    );
    const badSeed = file('bad-seed.creds', creds.replace(seed, `${seed.slice(0, -2)}AA`));
    expect(
      errorOf(() => resolveNatsAuthOptions(natsAuthFromFlags({ natsCreds: badSeed }, {}))).message,
    ).toMatch(new RegExp(`^--nats-creds: ${badSeed} does not hold a valid NATS user nkey seed`));
    const account = nkeys.createAccount();
    const accountSeed = file('account.nk', new TextDecoder().decode(account.getSeed()));
    expect(
      errorOf(() => resolveNatsAuthOptions(natsAuthFromFlags({ natsNkeyFile: accountSeed }, {}))).message,
    ).toBe(
      `--nats-nkey-file: ${accountSeed} does not hold a NATS user nkey seed (one line starting with SU)`,
    );
  });

  it('refuses a client certificate without its key, and a file that is not PEM', () => {
    const cert = file('only-cert.pem', pem);
    expect(errorOf(() => resolveNatsAuthOptions(natsAuthFromFlags({ natsCert: cert }, {}))).message).toBe(
      '--nats-cert needs --nats-key too: a client certificate goes with its private key',
    );
    const notPem = file('ca.txt', 'hello');
    expect(errorOf(() => resolveNatsAuthOptions(natsAuthFromFlags({ natsCa: notPem }, {}))).message).toBe(
      `--nats-ca: ${notPem} is not a PEM file`,
    );
  });

  it('refuses an inbox prefix with wildcards', () => {
    expect(
      errorOf(() => resolveNatsAuthOptions(natsAuthFromFlags({ natsInboxPrefix: '_INBOX.>' }, {}))).message,
    ).toBe(
      `--nats-inbox-prefix must be subject tokens separated by '.', without wildcards or whitespace, got "_INBOX.>"`,
    );
  });
});

describe('parseNatsCreds', () => {
  it('finds the JWT and the seed blocks', () => {
    expect(parseNatsCreds(creds)).toEqual({ jwt, seed });
    expect(parseNatsCreds('just text')).toBeUndefined();
  });
});

describe('natsRefusalOf', () => {
  const server = 'nats://127.0.0.1:4222';

  it('names the server and the refused credentials', () => {
    const auth = Object.assign(new Error('Authorization Violation'), { name: 'AuthorizationError' });
    const r = natsRefusalOf(auth, server);
    expect(r).toBeInstanceOf(NatsRefusedError);
    expect(r?.refused).toBe('credentials');
    expect(r?.message).toBe('NATS at nats://127.0.0.1:4222 refused the credentials: Authorization Violation');
  });

  it('names the subject of a refused publish found in the cause chain', () => {
    const pv = Object.assign(new Error('Permissions Violation for Publish to "fl.samples.3.agent-2"'), {
      name: 'PermissionViolationError',
      operation: 'publish',
      subject: 'fl.samples.3.agent-2',
    });
    const wrapped = new Error(pv.message, { cause: pv });
    const r = natsRefusalOf(wrapped, server);
    expect(r?.refused).toBe('publish');
    expect(r?.subject).toBe('fl.samples.3.agent-2');
    expect(r?.message).toBe(
      'NATS at nats://127.0.0.1:4222 refused publish to fl.samples.3.agent-2: Permissions Violation',
    );
  });

  it('hints at the inbox prefix when an inbox subscription is refused', () => {
    const pv = Object.assign(new Error('x'), {
      name: 'PermissionViolationError',
      operation: 'subscription',
      subject: '_INBOX.abc.*',
    });
    expect(natsRefusalOf(pv, server)?.message).toBe(
      'NATS at nats://127.0.0.1:4222 refused subscription to _INBOX.abc.*: Permissions Violation ' +
        '(replies need an inbox prefix the server allows: --nats-inbox-prefix or FAULTLINE_NATS_INBOX_PREFIX)',
    );
  });

  it('recognises TLS failures and leaves other errors alone', () => {
    const tls = Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    expect(natsRefusalOf(tls, server)?.message).toBe(
      'TLS with NATS at nats://127.0.0.1:4222 failed: self-signed certificate',
    );
    expect(natsRefusalOf(new Error('timeout'), server)).toBeUndefined();
    expect(natsRefusalOf('nope', server)).toBeUndefined();
  });
});

describe('withoutNatsSecurityEnv', () => {
  it('drops the NATS security variables and keeps the rest', () => {
    expect(
      withoutNatsSecurityEnv({
        FAULTLINE_NATS_CREDS: 'x',
        FAULTLINE_NATS_PASSWORD: 'y',
        FAULTLINE_NATS_URL: 'u',
        PATH: 'p',
      }),
    ).toEqual({ FAULTLINE_NATS_URL: 'u', PATH: 'p' });
  });
});
