import { describe, expect, it } from 'vitest';
import { parseControllerConfig } from './config.js';
import { resolveControllerOptions } from './controller-server.js';

describe('parseControllerConfig (security)', () => {
  it('takes TLS and token files from flags, else from the environment; empty means unset', () => {
    const env = {
      FAULTLINE_CONTROLLER_TLS_CERT: '/env/server.crt',
      FAULTLINE_CONTROLLER_TLS_KEY: '/env/server.key',
      FAULTLINE_CONTROLLER_TLS_CLIENT_CA: '',
      FAULTLINE_CONTROLLER_TOKEN_FILE: '/env/cli.tokens',
      FAULTLINE_CONTROLLER_AGENT_TOKEN_FILE: '/env/agent.tokens',
    };
    expect(parseControllerConfig(['--tls-cert', '/flag/server.crt'], env)).toMatchObject({
      tlsCertFile: '/flag/server.crt',
      tlsKeyFile: '/env/server.key',
      tlsClientCaFile: undefined,
      tokenFile: '/env/cli.tokens',
      agentTokenFile: '/env/agent.tokens',
    });
    expect(parseControllerConfig([], {})).toMatchObject({
      tlsCertFile: undefined,
      tlsKeyFile: undefined,
      tlsClientCaFile: undefined,
      tokenFile: undefined,
      agentTokenFile: undefined,
    });
  });
});

describe('resolveControllerOptions (security)', () => {
  it('is plaintext and open by default (the dev stack)', () => {
    expect(resolveControllerOptions({})).toMatchObject({
      tlsCertFile: undefined,
      tlsClientCaFile: undefined,
      tokenFile: undefined,
      agentTokenFile: undefined,
    });
  });

  it('refuses half a TLS pair and mTLS without TLS', () => {
    expect(() => resolveControllerOptions({ tlsKeyFile: '/k' })).toThrow(
      '--tls-cert and --tls-key go together, got only --tls-key',
    );
    expect(() => resolveControllerOptions({ tlsClientCaFile: '/ca' })).toThrow(
      '--tls-client-ca (mTLS) needs --tls-cert and --tls-key',
    );
    expect(() => resolveControllerOptions({ tokenFile: '' })).toThrow(
      'tokenFile must be a file path, got ""',
    );
  });

  it('authenticates both services or neither', () => {
    expect(() => resolveControllerOptions({ tokenFile: '/t' })).toThrow(
      'set --agent-token-file or --tls-client-ca too',
    );
    expect(() => resolveControllerOptions({ agentTokenFile: '/t' })).toThrow(
      'set --token-file or --tls-client-ca too',
    );
    expect(resolveControllerOptions({ tokenFile: '/t', agentTokenFile: '/a' }).tokenFile).toBe('/t');
    const mtls = { tlsCertFile: '/c', tlsKeyFile: '/k', tlsClientCaFile: '/ca' };
    expect(resolveControllerOptions(mtls).tlsClientCaFile).toBe('/ca');
    expect(resolveControllerOptions({ ...mtls, tokenFile: '/t' }).tokenFile).toBe('/t');
  });
});
