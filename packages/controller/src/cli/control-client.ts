import {
  credentials,
  Metadata,
  status,
  type CallOptions,
  type ChannelCredentials,
  type ChannelOptions,
  type ClientReadableStream,
  type ServiceError,
} from '@grpc/grpc-js';
import {
  ControlServiceClient,
  type Experiment,
  type GetExperimentResponse,
  type ListExperimentsResponse,
  type PlanExperimentResponse,
  type StartExperimentResponse,
  type HaltResponse,
  type ListAgentsResponse,
  type Plan,
  type WatchExperimentResponse,
} from '@faultline/protocol';
import { InvalidOptionsError } from '../errors.js';
import { tokenProblem } from '../grpc/auth.js';
import { clientTlsCredentials } from '../grpc/tls-credentials.js';

/** Default controller address (the dev stack's), overridden by --controller or FAULTLINE_CONTROLLER. */
export const DEFAULT_CONTROLLER = '127.0.0.1:15051';

/** A failed call, already phrased for a person: one line, what failed and what to do. */
export class ControllerCallError extends Error {
  override name = 'ControllerCallError';
  constructor(
    message: string,
    readonly grpcCode: number,
  ) {
    super(message);
  }
}

/** The reason grpc-js gives for a failed connection ("... Last error: <reason>. Resolution note: ..."). */
function connectionReason(details: string): string {
  const m =
    /Last error: (?:Error(?: \[\w+\])?: )?([\s\S]*?)(?: \(\d{4}-\d\d-\d\dT[^)]*\))?\.? Resolution note:/.exec(
      details,
    );
  const reason = (m?.[1] ?? details).replace(/\s+/g, ' ').trim();
  // OpenSSL's "<hex>:error:<code>:SSL routines:<func>:<reason>:<file>:<line>" → the reason.
  const ssl = /SSL routines:[^:]*:([^:]+)/.exec(reason);
  return ssl?.[1] ?? reason;
}

/** What to do about a connection that failed, given how the client was set up. */
function connectionHint(reason: string, tls: boolean, clientCert: boolean): string {
  const r = reason.toLowerCase();
  if (r.includes('wrong version number')) {
    return 'the controller does not speak TLS: drop --tls/--tls-ca (and FAULTLINE_TLS*)';
  }
  if (r.includes('certificate required')) {
    return 'the controller requires a client certificate (mTLS): pass --tls-cert FILE and --tls-key FILE';
  }
  if (r.includes('altnames') || r.includes('hostname')) {
    return "connect by a name in the controller's certificate, or pass --tls-server-name NAME";
  }
  if (
    r.includes('certificate') ||
    r.includes('verify') ||
    r.includes('self-signed') ||
    r.includes('self signed')
  ) {
    return "pass --tls-ca FILE with the CA that signed the controller's certificate";
  }
  if (r.includes('econnrefused') || r.includes('enotfound') || r.includes('timed out')) {
    return 'start it with "faultline dev up" or pass --controller HOST:PORT';
  }
  if (!tls) {
    return 'if the controller serves TLS, pass --tls-ca FILE (or --tls); else start it with "faultline dev up" or pass --controller HOST:PORT';
  }
  return clientCert
    ? "the controller closed the connection: is the client certificate signed by the controller's client CA?"
    : 'the controller closed the connection: if it requires client certificates, pass --tls-cert and --tls-key';
}

function describe(
  err: ServiceError,
  address: string,
  tls: boolean,
  clientCert: boolean,
): ControllerCallError {
  if (err.code === status.DEADLINE_EXCEEDED) {
    return new ControllerCallError(
      `cannot reach the controller at ${address} (deadline exceeded); start it with "faultline dev up" or pass --controller HOST:PORT`,
      err.code,
    );
  }
  if (err.code === status.UNAVAILABLE) {
    const reason = connectionReason(err.details || err.message);
    return new ControllerCallError(
      `cannot reach the controller at ${address} (unavailable: ${reason}); ${connectionHint(reason, tls, clientCert)}`,
      err.code,
    );
  }
  if (err.code === status.UNAUTHENTICATED) {
    return new ControllerCallError(
      `the controller at ${address} refused the call (unauthenticated): ${err.details}; ` +
        'pass --token-file FILE or set FAULTLINE_TOKEN / FAULTLINE_TOKEN_FILE',
      err.code,
    );
  }
  if (err.code === status.PERMISSION_DENIED) {
    return new ControllerCallError(
      `the controller at ${address} refused the call (permission denied): ${err.details}`,
      err.code,
    );
  }
  return new ControllerCallError(err.details || err.message, err.code);
}

/** How {@link ControlClient} connects and authenticates. */
export interface ControlClientOptions {
  /** Deadline of each unary call, ms. Default 15000. */
  timeoutMs?: number;
  /** Connect over TLS, trusting the system roots unless `tlsCaFile` is set. Implied by `tlsCaFile` and `tlsCertFile`. Default false. */
  tls?: boolean;
  /** PEM CA bundle that signed the controller's certificate (a private CA). */
  tlsCaFile?: string;
  /** PEM client certificate for mTLS; needs `tlsKeyFile`. */
  tlsCertFile?: string;
  /** PEM private key of `tlsCertFile`. */
  tlsKeyFile?: string;
  /** Name to verify the controller's certificate against instead of the address's host. */
  tlsServerName?: string;
  /** Token sent as `authorization: Bearer <token>` on every call. Default none. */
  token?: string;
}

/** Promise wrapper over the ControlService client with a deadline on every call. */
export class ControlClient {
  private readonly client: ControlServiceClient;
  private readonly timeoutMs: number;
  private readonly token: string | undefined;
  private readonly tls: boolean;
  private readonly clientCert: boolean;

  /** Files are read here; a missing or malformed one is an InvalidOptionsError naming the flag. */
  constructor(
    readonly address: string,
    options: ControlClientOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 15_000;
    if (options.token !== undefined) {
      const problem = tokenProblem(options.token);
      if (problem) throw new InvalidOptionsError('token', `the token is not usable: ${problem}`);
    }
    this.token = options.token;
    this.clientCert = options.tlsCertFile !== undefined;
    this.tls =
      options.tls === true ||
      options.tlsCaFile !== undefined ||
      options.tlsCertFile !== undefined ||
      options.tlsKeyFile !== undefined;
    let creds: ChannelCredentials = credentials.createInsecure();
    let channelOptions: ChannelOptions = {};
    if (this.tls) {
      ({ credentials: creds, channelOptions } = clientTlsCredentials({
        caFile: options.tlsCaFile,
        certFile: options.tlsCertFile,
        keyFile: options.tlsKeyFile,
        serverName: options.tlsServerName,
      }));
    } else if (options.tlsServerName !== undefined) {
      throw new InvalidOptionsError(
        'tlsServerName',
        '--tls-server-name needs TLS: pass --tls or --tls-ca FILE',
      );
    }
    this.client = new ControlServiceClient(address, creds, channelOptions);
  }

  private metadata(): Metadata {
    const m = new Metadata();
    if (this.token !== undefined) m.set('authorization', `Bearer ${this.token}`);
    return m;
  }

  private describe(err: ServiceError): ControllerCallError {
    return describe(err, this.address, this.tls, this.clientCert);
  }

  private unary<Res>(
    invoke: (
      meta: Metadata,
      options: CallOptions,
      cb: (err: ServiceError | null, res?: Res) => void,
    ) => unknown,
  ): Promise<Res> {
    return new Promise((resolve, reject) =>
      invoke(this.metadata(), { deadline: Date.now() + this.timeoutMs }, (err, res) =>
        err ? reject(this.describe(err)) : resolve(res as Res),
      ),
    );
  }

  listAgents(selector = ''): Promise<ListAgentsResponse> {
    return this.unary((m, o, cb) => this.client.listAgents({ selector }, m, o, cb));
  }

  async plan(specYaml: string, startUnixNano = 0n): Promise<Plan[]> {
    const res = await this.unary<PlanExperimentResponse>((m, o, cb) =>
      this.client.planExperiment({ specYaml, startUnixNano }, m, o, cb),
    );
    return res.plans;
  }

  async start(specYaml: string): Promise<Experiment> {
    const res = await this.unary<StartExperimentResponse>((m, o, cb) =>
      this.client.startExperiment({ specYaml }, m, o, cb),
    );
    return res.experiment!;
  }

  async get(experimentId: string): Promise<Experiment> {
    const res = await this.unary<GetExperimentResponse>((m, o, cb) =>
      this.client.getExperiment({ experimentId }, m, o, cb),
    );
    return res.experiment!;
  }

  async list(): Promise<Experiment[]> {
    const res = await this.unary<ListExperimentsResponse>((m, o, cb) =>
      this.client.listExperiments({}, m, o, cb),
    );
    return res.experiments;
  }

  halt(experimentId: string, reason: string): Promise<HaltResponse> {
    return this.unary((m, o, cb) => this.client.halt({ experimentId, reason }, m, o, cb));
  }

  /** Streams an experiment's events from the start until it ends (no deadline: it follows). */
  async watch(experimentId: string, onEvent: (e: WatchExperimentResponse) => void): Promise<void> {
    const stream: ClientReadableStream<WatchExperimentResponse> = this.client.watchExperiment(
      { experimentId },
      this.metadata(),
    );
    await new Promise<void>((resolve, reject) => {
      stream.on('data', onEvent);
      stream.on('end', resolve);
      stream.on('error', (err: ServiceError) => reject(this.describe(err)));
    });
  }

  close(): void {
    this.client.close();
  }
}
