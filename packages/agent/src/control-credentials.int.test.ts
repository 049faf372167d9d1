import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestCertificates, tempDir, type TempDir, type TestCertificates } from '@faultline/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlSecurityFrom } from './config.js';
import { loadControlCredentials } from './control-credentials.js';
import { isInvalidOptionsError } from './errors.js';

let dir: TempDir;
let pki: TestCertificates;

beforeAll(async () => {
  dir = tempDir('faultline-agent-creds-');
  pki = await makeTestCertificates(join(dir.path, 'pki'), { clients: ['node-a', 'node-b'] });
});
afterAll(() => dir?.[Symbol.asyncDispose]());

function file(name: string, text: string): string {
  const path = join(dir.path, name);
  writeFileSync(path, text);
  return path;
}

function failure(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(isInvalidOptionsError(err)).toBe(true);
    return (err as Error).message;
  }
  throw new Error('expected an InvalidOptionsError');
}

describe('loadControlCredentials', () => {
  it('is plaintext without a token by default', () => {
    const c = loadControlCredentials({});
    expect(c.tls).toBe(false);
    expect(c.token).toBeUndefined();
    expect(c.credentials._isSecure()).toBe(false);
  });

  it('turns TLS on with a CA or a client certificate, and reads the first token of a token file', () => {
    const token = file(
      'agent.token',
      '# the fleet token\n\n  fleet-token-0123456789abcdef  \nsecond-token-0123456789abc\n',
    );
    const c = loadControlCredentials({
      tlsCaFile: pki.ca.cert,
      tlsCertFile: pki.client('node-a').cert,
      tlsKeyFile: pki.client('node-a').key,
      tlsServerName: 'controller.internal',
      tokenFile: token,
    });
    expect(c.tls).toBe(true);
    expect(c.credentials._isSecure()).toBe(true);
    expect(c.token).toBe('fleet-token-0123456789abcdef');
    expect(c.channelOptions['grpc.ssl_target_name_override']).toBe('controller.internal');
  });

  it('names the flag and the file of a missing, non-PEM or mismatched file', () => {
    const missing = join(dir.path, 'missing.crt');
    expect(failure(() => loadControlCredentials({ tlsCaFile: missing }))).toBe(
      `--tls-ca ${missing}: no such file`,
    );
    const text = file('text.pem', 'not a certificate\n');
    expect(failure(() => loadControlCredentials({ tlsCaFile: text }))).toBe(
      `--tls-ca ${text}: not a PEM certificate (no "-----BEGIN CERTIFICATE-----" block)`,
    );
    expect(
      failure(() =>
        loadControlCredentials({ tlsCertFile: pki.client('node-a').cert, tlsKeyFile: pki.ca.cert }),
      ),
    ).toBe(`--tls-key ${pki.ca.cert}: not a PEM private key (no "-----BEGIN PRIVATE KEY-----" block)`);
    expect(
      failure(() =>
        loadControlCredentials({
          tlsCertFile: pki.client('node-a').cert,
          tlsKeyFile: pki.client('node-b').key,
        }),
      ),
    ).toContain(`--tls-key ${pki.client('node-b').key} does not fit --tls-cert ${pki.client('node-a').cert}`);
    expect(failure(() => loadControlCredentials({ tlsCertFile: pki.client('node-a').cert }))).toBe(
      '--tls-cert needs --tls-key too (a client certificate and its key go together)',
    );
    expect(failure(() => loadControlCredentials({ tlsServerName: 'x' }))).toBe(
      '--tls-server-name needs TLS: pass --tls or --tls-ca FILE',
    );
  });

  it('refuses a token file without a usable token, without printing it', () => {
    const empty = file('empty.token', '# nothing yet\n');
    expect(failure(() => loadControlCredentials({ tokenFile: empty }))).toBe(
      `--token-file ${empty}: the file holds no token`,
    );
    const short = file('short.token', 'hunter2\n');
    const message = failure(() => loadControlCredentials({ tokenFile: short }));
    expect(message).toBe(`--token-file ${short}: line 1: a token must be at least 16 characters, got 7`);
  });
});

describe('controlSecurityFrom', () => {
  it('takes flags over FAULTLINE_AGENT_* variables, empty variables meaning unset', () => {
    const env = {
      FAULTLINE_AGENT_TLS: '1',
      FAULTLINE_AGENT_TLS_CA: '/env/ca.crt',
      FAULTLINE_AGENT_TLS_CERT: '',
      FAULTLINE_AGENT_TOKEN_FILE: '/env/token',
    };
    expect(controlSecurityFrom({ tlsCa: '/flag/ca.crt' }, env)).toEqual({
      tls: true,
      tlsCaFile: '/flag/ca.crt',
      tlsCertFile: undefined,
      tlsKeyFile: undefined,
      tlsServerName: undefined,
      tokenFile: '/env/token',
    });
    expect(controlSecurityFrom({}, {}).tls).toBe(false);
    expect(failure(() => controlSecurityFrom({}, { FAULTLINE_AGENT_TLS: 'maybe' }))).toBe(
      'FAULTLINE_AGENT_TLS must be 1 or 0 (true or false), got "maybe"',
    );
  });
});
