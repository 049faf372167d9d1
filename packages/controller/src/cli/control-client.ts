import {
  credentials,
  Metadata,
  status,
  type CallOptions,
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

function describe(err: ServiceError, address: string): ControllerCallError {
  if (err.code === status.UNAVAILABLE || err.code === status.DEADLINE_EXCEEDED) {
    return new ControllerCallError(
      `cannot reach the controller at ${address} (${err.code === status.UNAVAILABLE ? 'unavailable' : 'deadline exceeded'}); start it with "faultline dev up" or pass --controller HOST:PORT`,
      err.code,
    );
  }
  return new ControllerCallError(err.details || err.message, err.code);
}

/** Promise wrapper over the ControlService client with a deadline on every call. */
export class ControlClient {
  private readonly client: ControlServiceClient;

  constructor(
    readonly address: string,
    private readonly timeoutMs = 15_000,
  ) {
    this.client = new ControlServiceClient(address, credentials.createInsecure());
  }

  private unary<Res>(
    invoke: (
      meta: Metadata,
      options: CallOptions,
      cb: (err: ServiceError | null, res?: Res) => void,
    ) => unknown,
  ): Promise<Res> {
    return new Promise((resolve, reject) =>
      invoke(new Metadata(), { deadline: Date.now() + this.timeoutMs }, (err, res) =>
        err ? reject(describe(err, this.address)) : resolve(res as Res),
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
    const stream: ClientReadableStream<WatchExperimentResponse> = this.client.watchExperiment({
      experimentId,
    });
    await new Promise<void>((resolve, reject) => {
      stream.on('data', onEvent);
      stream.on('end', resolve);
      stream.on('error', (err: ServiceError) => reject(describe(err, this.address)));
    });
  }

  close(): void {
    this.client.close();
  }
}
