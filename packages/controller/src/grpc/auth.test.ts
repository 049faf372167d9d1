import type { PeerCertificate } from 'node:tls';
import { Metadata } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { isPermissionDeniedError, isUnauthenticatedError } from '../errors.js';
import { callRole, certificateNames, ControlPlaneAuth, parseTokenFile, TokenSet } from './auth.js';

const source = { field: 'tokenFile', flag: '--token-file' };
const A = 'token-a-0123456789abcdef';
const B = 'token-b-0123456789abcdef';

function md(...authorization: string[]): Metadata {
  const m = new Metadata();
  for (const a of authorization) m.add('authorization', a);
  return m;
}

function authWith(
  control: string[] | undefined,
  agent: string[] | undefined,
  mtls = false,
): ControlPlaneAuth {
  const auth = new ControlPlaneAuth(() => ({ control, agent }), mtls);
  auth.reload();
  return auth;
}

const cert = (cn: string, san = ''): PeerCertificate =>
  ({ subject: { CN: cn }, subjectaltname: san }) as unknown as PeerCertificate;

describe('parseTokenFile', () => {
  it('reads one token per line, skipping blank lines and # comments, trimming whitespace', () => {
    expect(parseTokenFile(`# operators\n  ${A}  \r\n\n# ci\n${B}\n`, '/t', source)).toEqual([A, B]);
  });

  it('names the flag, the file and the line of a bad token without repeating it', () => {
    expect(() => parseTokenFile(`${A}\nsecret\n`, '/etc/t', source)).toThrow(
      '--token-file /etc/t: line 2: a token must be at least 16 characters, got 6',
    );
    const spaced = 'two words 0123456789';
    let message = '';
    try {
      parseTokenFile(spaced, '/etc/t', source);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toBe('--token-file /etc/t: line 1: a token must be printable ASCII without spaces');
    expect(message).not.toContain('words');
  });

  it('refuses a file with no token', () => {
    expect(() => parseTokenFile('# rotate me\n\n', '/etc/t', source)).toThrow(
      '--token-file /etc/t: the file holds no token',
    );
  });
});

describe('TokenSet', () => {
  it('accepts exactly its tokens: no prefix, extension or case change', () => {
    const set = new TokenSet([A, B]);
    expect(set.size).toBe(2);
    expect(set.has(A)).toBe(true);
    expect(set.has(B)).toBe(true);
    expect(set.has(A.slice(0, -1))).toBe(false);
    expect(set.has(`${A}x`)).toBe(false);
    expect(set.has(A.toUpperCase())).toBe(false);
    expect(set.has('')).toBe(false);
  });
});

describe('certificateNames', () => {
  it('is the CN and the DNS SANs, without IPs or URIs, each once', () => {
    expect(
      certificateNames(
        cert('node-a', 'DNS:node-a, DNS:node-a.example, IP Address:10.0.0.1, URI:spiffe://x/y'),
      ),
    ).toEqual(['node-a', 'node-a.example']);
    expect(certificateNames({ subject: {} } as unknown as PeerCertificate)).toEqual([]);
  });
});

describe('callRole', () => {
  it('leaves health open, gives AgentService to agents and everything else to ControlService', () => {
    expect(callRole('/grpc.health.v1.Health/Check')).toBe('open');
    expect(callRole('/grpc.health.v1.Health/Watch')).toBe('open');
    expect(callRole('/faultline.v1.AgentService/Register')).toBe('agent');
    expect(callRole('/faultline.v1.ControlService/StartExperiment')).toBe('control');
    expect(callRole('/grpc.reflection.v1.ServerReflection/ServerReflectionInfo')).toBe('control');
  });
});

describe('ControlPlaneAuth.authenticate', () => {
  const auth = authWith([A], [B]);
  const noPeer = {};

  it('lets a call with a right Bearer token through, whatever the scheme case', () => {
    expect(auth.authenticate('control', md(`Bearer ${A}`), noPeer)).toBeUndefined();
    expect(auth.authenticate('control', md(`bearer ${A}`), noPeer)).toBeUndefined();
    expect(auth.authenticate('agent', md(`Bearer ${B}`), noPeer)).toBeUndefined();
    expect(auth.authenticate('open', md(), noPeer)).toBeUndefined();
  });

  it('says what is missing or wrong, never echoing the token', () => {
    const messages = [
      auth.authenticate('control', md(), noPeer),
      auth.authenticate('control', md(`Basic ${A}`), noPeer),
      auth.authenticate('control', md(`Bearer ${A}`, `Bearer ${A}`), noPeer),
      auth.authenticate('control', md(`Bearer ${B}`), noPeer),
      auth.authenticate('agent', md(`Bearer ${A}`), noPeer),
    ];
    expect(messages.every(isUnauthenticatedError)).toBe(true);
    expect(messages.map((e) => e?.message)).toEqual([
      'ControlService requires a token: send metadata "authorization: Bearer <token>"',
      'the authorization metadata must read "Bearer <token>"',
      'send one authorization metadata entry, not several',
      "the token was not accepted (it is not in the controller's --token-file)",
      "the agent token was not accepted (it is not in the controller's --agent-token-file)",
    ]);
  });

  it('with mTLS, requires a verified client certificate', () => {
    const mtls = authWith(undefined, undefined, true);
    expect(mtls.authenticate('agent', md(), {})?.message).toBe(
      "a client certificate signed by the controller's client CA is required",
    );
    expect(mtls.authenticate('agent', md(), { sslPeerCertificate: cert('node-a') })).toBeUndefined();
  });
});

describe('ControlPlaneAuth.authorizeAgent', () => {
  const mtls = authWith(undefined, undefined, true);
  const peer = { sslPeerCertificate: cert('node-a', 'DNS:node-a.fleet') };

  it('lets an agent speak for the ids its certificate names, in every AgentService request', () => {
    const register = { agent: { agentId: 'node-a.fleet' } };
    expect(mtls.authorizeAgent('/faultline.v1.AgentService/Register', register, peer)).toBeUndefined();
    const watch = { agentId: 'node-a' };
    expect(mtls.authorizeAgent('/faultline.v1.AgentService/WatchAssignments', watch, peer)).toBeUndefined();
    const report = { seq: 1n, report: { agentId: 'node-a' } };
    expect(mtls.authorizeAgent('/faultline.v1.AgentService/StreamReports', report, peer)).toBeUndefined();
  });

  it('denies any other id, a missing one and an unknown method', () => {
    const denied = [
      mtls.authorizeAgent('/faultline.v1.AgentService/Register', { agent: { agentId: 'node-b' } }, peer),
      mtls.authorizeAgent('/faultline.v1.AgentService/ReportProgress', { agentId: 'node-b' }, peer),
      mtls.authorizeAgent('/faultline.v1.AgentService/StreamReports', { seq: 1n }, peer),
      mtls.authorizeAgent('/faultline.v1.AgentService/Unknown', {}, peer),
    ];
    expect(denied.every(isPermissionDeniedError)).toBe(true);
    expect(denied[0]?.message).toBe(
      'the client certificate (names: node-a, node-a.fleet) is not for agent "node-b": ' +
        "an agent's certificate must carry its agent id as CN or DNS SAN",
    );
  });

  it('does not bind ids without mTLS (a shared agent token names no agent)', () => {
    expect(
      authWith(undefined, [B]).authorizeAgent('/faultline.v1.AgentService/Register', { agent: {} }, {}),
    ).toBeUndefined();
  });
});
