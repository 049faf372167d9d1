import { createHash, timingSafeEqual } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { ServerInterceptingCall, status, type Metadata, type ServerInterceptor } from '@grpc/grpc-js';
import { AgentServiceService } from '@faultline/protocol';
import {
  InvalidOptionsError,
  PermissionDeniedError,
  UnauthenticatedError,
  type ControllerError,
} from '../errors.js';
import { toServiceError } from './status-mapping.js';
import { readOptionFile, type OptionSource } from './tls-credentials.js';

/** Shortest token accepted, characters: 16 random characters or more (`openssl rand -hex 32`). */
export const MIN_TOKEN_LENGTH = 16;

/** Why `token` cannot be a token (without repeating it), or undefined when it can. */
export function tokenProblem(token: string): string | undefined {
  if (!/^[\x21-\x7e]+$/.test(token)) return 'a token must be printable ASCII without spaces';
  if (token.length < MIN_TOKEN_LENGTH) {
    return `a token must be at least ${MIN_TOKEN_LENGTH} characters, got ${token.length}`;
  }
  return undefined;
}

/**
 * Parses a token file: one token per line; blank lines and lines starting with `#` are
 * skipped; surrounding whitespace is trimmed. A file with no token, or a line that is not a
 * token, is an InvalidOptionsError naming the flag, the file and the line (never the token).
 */
export function parseTokenFile(text: string, path: string, source: OptionSource): string[] {
  const tokens: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const problem = tokenProblem(line);
    if (problem)
      throw new InvalidOptionsError(source.field, `${source.flag} ${path}: line ${i + 1}: ${problem}`);
    tokens.push(line);
  });
  if (tokens.length === 0) {
    throw new InvalidOptionsError(source.field, `${source.flag} ${path}: the file holds no token`);
  }
  return tokens;
}

/** Reads and parses a token file (see {@link parseTokenFile}). */
export function readTokenFile(path: string, source: OptionSource): string[] {
  return parseTokenFile(readOptionFile(path, source).toString('utf8'), path, source);
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * Accepted tokens, compared in constant time: every candidate is hashed and compared with
 * every token's hash with `timingSafeEqual`, so neither the length nor the first wrong
 * character of a guess shows in the time taken.
 */
export class TokenSet {
  private readonly digests: readonly Buffer[];

  constructor(tokens: readonly string[]) {
    this.digests = tokens.map(digest);
  }

  get size(): number {
    return this.digests.length;
  }

  has(candidate: string): boolean {
    const d = digest(candidate);
    let found = false;
    for (const t of this.digests) found = timingSafeEqual(t, d) || found;
    return found;
  }
}

/** Which rules a call falls under: health is open, AgentService is agents', the rest is ControlService's. */
export type CallRole = 'open' | 'agent' | 'control';

const HEALTH_PREFIX = '/grpc.health.v1.Health/';
const AGENT_PREFIX = '/faultline.v1.AgentService/';

export function callRole(path: string): CallRole {
  if (path.startsWith(HEALTH_PREFIX)) return 'open';
  if (path.startsWith(AGENT_PREFIX)) return 'agent';
  // Anything else, including a service added later, needs the ControlService token.
  return 'control';
}

type AgentMethods = typeof AgentServiceService;

/**
 * The agent id each AgentService request speaks for: with mTLS it must be a name of the
 * caller's certificate. Typed over every method, so a new rpc does not compile without one.
 */
const AGENT_ID_OF: {
  [K in keyof AgentMethods]: (m: ReturnType<AgentMethods[K]['requestDeserialize']>) => string | undefined;
} = {
  register: (m) => m.agent?.agentId,
  watchAssignments: (m) => m.agentId,
  reportProgress: (m) => m.agentId,
  streamReports: (m) => m.report?.agentId,
};

const AGENT_ID_BY_PATH = new Map<string, (m: never) => string | undefined>(
  (Object.keys(AGENT_ID_OF) as Array<keyof AgentMethods>).map((k) => [
    AgentServiceService[k].path,
    AGENT_ID_OF[k] as (m: never) => string | undefined,
  ]),
);

/** The names a certificate proves: its subject CN and its DNS subject alternative names. */
export function certificateNames(cert: PeerCertificate): string[] {
  const cn = cert.subject?.CN as string | string[] | undefined;
  const names = cn === undefined ? [] : Array.isArray(cn) ? [...cn] : [cn];
  for (const entry of (cert.subjectaltname ?? '').split(',')) {
    const m = /^\s*DNS:(.+?)\s*$/.exec(entry);
    if (m?.[1]) names.push(m[1]);
  }
  return [...new Set(names)];
}

function bearerToken(metadata: Metadata, what: string): string | UnauthenticatedError {
  const values = metadata.get('authorization');
  if (values.length === 0) {
    return new UnauthenticatedError(
      `${what} requires a token: send metadata "authorization: Bearer <token>"`,
    );
  }
  if (values.length > 1)
    return new UnauthenticatedError('send one authorization metadata entry, not several');
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(String(values[0]));
  if (!m?.[1]) return new UnauthenticatedError('the authorization metadata must read "Bearer <token>"');
  return m[1];
}

/** What the TLS layer proved about the caller (grpc-js's auth context). */
export interface PeerAuth {
  /** The client certificate, when the handshake verified one. */
  sslPeerCertificate?: PeerCertificate | undefined;
}

/** Accepted tokens by service; an absent list means that service takes no token. */
export interface TokenLists {
  /** Tokens for ControlService (the CLI). */
  control?: readonly string[];
  /** Tokens for AgentService (agents, when they do not authenticate by certificate). */
  agent?: readonly string[];
}

/** Token files the controller reads at start and again on {@link ControlPlaneAuth.reload}. */
export interface TokenFiles {
  /** `--token-file`: tokens for ControlService. */
  tokenFile?: string;
  /** `--agent-token-file`: tokens for AgentService. */
  agentTokenFile?: string;
}

/** Reads both token files each time it is called (see {@link parseTokenFile}). */
export function tokenFileReader(files: TokenFiles): () => TokenLists {
  return () => ({
    control:
      files.tokenFile === undefined
        ? undefined
        : readTokenFile(files.tokenFile, { field: 'tokenFile', flag: '--token-file' }),
    agent:
      files.agentTokenFile === undefined
        ? undefined
        : readTokenFile(files.agentTokenFile, { field: 'agentTokenFile', flag: '--agent-token-file' }),
  });
}

/** How many tokens of each kind are in force; what may be logged about them. */
export interface TokenCounts {
  controlTokens: number;
  agentTokens: number;
}

/**
 * The controller's authentication rules, applied to every call by {@link authInterceptor}:
 *
 * - grpc.health.v1 is open (still over TLS when TLS is on; with mTLS the handshake needs a
 *   client certificate like every other call).
 * - ControlService (and any other service) needs `authorization: Bearer <token>` with a
 *   token from `tokenFile` when that is set; else UNAUTHENTICATED.
 * - AgentService needs a token from `agentTokenFile` when that is set; and with mTLS, the
 *   agent id each request speaks for (Register's agent, WatchAssignments', each report's)
 *   must be the CN or a DNS SAN of the caller's certificate; else PERMISSION_DENIED.
 *
 * Tokens are held as SHA-256 digests only; none is ever logged or put in a message.
 */
export class ControlPlaneAuth {
  private control: TokenSet | undefined;
  private agent: TokenSet | undefined;

  constructor(
    /** Where the tokens come from: called by `reload()` (token files: {@link tokenFileReader}). */
    private readonly readTokens: () => TokenLists,
    /** Clients present certificates signed by the client CA, checked in the TLS handshake. */
    readonly mtls: boolean,
  ) {}

  /**
   * Reads the tokens (again: token rotation). Both lists are read before either is
   * replaced, so a bad file leaves the tokens in force as they were.
   */
  reload(): TokenCounts {
    const { control, agent } = this.readTokens();
    this.control = control && new TokenSet(control);
    this.agent = agent && new TokenSet(agent);
    return this.counts();
  }

  counts(): TokenCounts {
    return { controlTokens: this.control?.size ?? 0, agentTokens: this.agent?.size ?? 0 };
  }

  /** Why a call of `role` with these metadata is refused, or undefined when it may go on. */
  authenticate(role: CallRole, metadata: Metadata, peer: PeerAuth): ControllerError | undefined {
    if (role === 'open') return undefined;
    if (this.mtls && !peer.sslPeerCertificate) {
      return new UnauthenticatedError(
        "a client certificate signed by the controller's client CA is required",
      );
    }
    const tokens = role === 'control' ? this.control : this.agent;
    if (!tokens) return undefined;
    const what = role === 'control' ? 'ControlService' : 'AgentService';
    const token = bearerToken(metadata, what);
    if (typeof token !== 'string') return token;
    if (!tokens.has(token)) {
      return new UnauthenticatedError(
        role === 'control'
          ? "the token was not accepted (it is not in the controller's --token-file)"
          : "the agent token was not accepted (it is not in the controller's --agent-token-file)",
      );
    }
    return undefined;
  }

  /** With mTLS: why an AgentService request may not speak for its agent id, or undefined. */
  authorizeAgent(path: string, message: unknown, peer: PeerAuth): ControllerError | undefined {
    if (!this.mtls) return undefined;
    const agentIdOf = AGENT_ID_BY_PATH.get(path);
    if (!agentIdOf) return new PermissionDeniedError(`no agent identity rule for ${path}`);
    const cert = peer.sslPeerCertificate;
    if (!cert) {
      return new UnauthenticatedError(
        "a client certificate signed by the controller's client CA is required",
      );
    }
    const agentId = agentIdOf(message as never) ?? '';
    const names = certificateNames(cert);
    if (names.includes(agentId)) return undefined;
    return new PermissionDeniedError(
      `the client certificate (names: ${names.join(', ') || 'none'}) is not for agent ${JSON.stringify(agentId)}: ` +
        "an agent's certificate must carry its agent id as CN or DNS SAN",
    );
  }
}

/**
 * A grpc-js server interceptor applying {@link ControlPlaneAuth} to every call before its
 * handler runs (unary and streaming alike): metadata is checked when the call opens, and
 * each AgentService request message (each report of a stream too) before it reaches the
 * handler. A refused call ends with UNAUTHENTICATED or PERMISSION_DENIED and the reason.
 */
export function authInterceptor(
  auth: ControlPlaneAuth,
  onRefused: (path: string, err: ControllerError) => void = () => {},
): ServerInterceptor {
  return (method, call) => {
    const role = callRole(method.path);
    if (role === 'open') return new ServerInterceptingCall(call);
    let refused = false;
    // The connection's certificate, read once per call (a stream checks every message).
    let peer: PeerAuth | undefined;
    const peerAuth = (): PeerAuth => (peer ??= call.getAuthContext());
    const refuse = (err: ControllerError): void => {
      refused = true;
      onRefused(method.path, err);
      const se = toServiceError(err);
      call.sendStatus({ code: se.code ?? status.UNAUTHENTICATED, details: se.details ?? err.message });
    };
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            const err = auth.authenticate(role, metadata, peerAuth());
            if (err) refuse(err);
            else nextMetadata(metadata);
          },
          onReceiveMessage: (message, nextMessage) => {
            if (refused) return;
            const err = role === 'agent' ? auth.authorizeAgent(method.path, message, peerAuth()) : undefined;
            if (err) refuse(err);
            else nextMessage(message);
          },
        }),
    });
  };
}
