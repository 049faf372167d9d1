import {
  status,
  type sendUnaryData,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type UntypedHandleCall,
} from '@grpc/grpc-js';
import type { Redis } from 'ioredis';
import {
  assertSubjectToken,
  type AgentServiceServer,
  type ControlServiceServer,
  type GetExperimentRequest,
  type GetExperimentResponse,
  type HaltRequest,
  type HaltResponse,
  type ListAgentsRequest,
  type ListAgentsResponse,
  type ListExperimentsRequest,
  type ListExperimentsResponse,
  partitionOf,
  type PlanExperimentRequest,
  type PlanExperimentResponse,
  type RegisterRequest,
  type RegisterResponse,
  type ReportProgressRequest,
  type ReportProgressResponse,
  type StartExperimentRequest,
  type StartExperimentResponse,
  type StreamReportsRequest,
  type StreamReportsResponse,
  type WatchAssignmentsRequest,
  type WatchAssignmentsResponse,
  type WatchExperimentRequest,
  type WatchExperimentResponse,
} from '@faultline/protocol';
import { InvalidArgumentError, NotFoundError } from '../errors.js';
import { type AgentConnection, isTerminal, type Scheduler } from '../scheduler.js';
import type { RedisStore } from '../store/redis-store.js';
import { toServiceError } from './status-mapping.js';

/** Options shared by the service implementations. */
export interface ServiceContext {
  store: RedisStore;
  scheduler: Scheduler;
  /** Opens a dedicated Redis connection for blocking reads (WatchExperiment). */
  duplicateRedis(): Redis;
  /** Agent lease, ms. */
  leaseMs: number;
  /** Number of sample partitions. */
  partitions: number;
  nowNs(): bigint;
  onError(err: unknown, where: string): void;
}

function unary<Req, Res>(
  ctx: ServiceContext,
  name: string,
  fn: (req: Req) => Promise<Res>,
): (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void {
  return (call, callback) => {
    fn(call.request).then(
      (res) => callback(null, res),
      (err: unknown) => {
        const se = toServiceError(err);
        if (se.code === status.INTERNAL) ctx.onError(err, name);
        callback(se as Parameters<sendUnaryData<Res>>[0]);
      },
    );
  };
}

/**
 * Ends a server stream with the error's status. (grpc-js sends the status when the stream
 * emits 'error'; `destroy(err)` would drop the call without one.)
 */
function failStream(
  call: ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>,
  err: unknown,
): void {
  call.emit('error', toServiceError(err));
}

/** AgentService: what agents call. */
export function agentService(
  ctx: ServiceContext,
): AgentServiceServer & { [name: string]: UntypedHandleCall } {
  return {
    register: unary<RegisterRequest, RegisterResponse>(ctx, 'Register', async (req) => {
      const info = req.agent;
      if (!info) throw new InvalidArgumentError('agent is required');
      assertSubjectToken('agent.agent_id', info.agentId);
      if (info.hostIds.length === 0) info.hostIds = [info.agentId];
      await ctx.store.upsertAgent(info, ctx.leaseMs, ctx.nowNs());
      ctx.scheduler.updateAgent(info);
      return {
        agentId: info.agentId,
        leaseTtlMs: ctx.leaseMs,
        partition: partitionOf(info.agentId, ctx.partitions),
      };
    }),

    watchAssignments(call: ServerWritableStream<WatchAssignmentsRequest, WatchAssignmentsResponse>): void {
      const agentId = call.request.agentId;
      let conn: AgentConnection | undefined;
      let closed = false;
      const end = (): void => {
        closed = true;
        if (conn) ctx.scheduler.detach(conn);
      };
      call.on('cancelled', end);
      call.on('close', end);
      call.on('error', end);
      void (async () => {
        const info = await ctx.store.getAgent(agentId);
        if (!info) {
          failStream(call, new NotFoundError('agent', agentId, 'call Register first'));
          return;
        }
        if (closed) return;
        conn = {
          agentId,
          info,
          send: (m: WatchAssignmentsResponse) => {
            if (!call.cancelled && call.writable) call.write(m);
          },
        };
        conn.send({ assignment: { $case: 'heartbeat', value: { timeUnixNano: ctx.nowNs() } } });
        await ctx.store.renewLeases([agentId], ctx.leaseMs, ctx.nowNs());
        if (!closed) await ctx.scheduler.attach(conn);
      })().catch((err: unknown) => ctx.onError(err, 'WatchAssignments'));
    },

    reportProgress: unary<ReportProgressRequest, ReportProgressResponse>(
      ctx,
      'ReportProgress',
      async (req) => {
        if (!req.report) throw new InvalidArgumentError('report is required');
        await ctx.scheduler.report(req.agentId, req.report);
        return {};
      },
    ),

    streamReports(call: ServerDuplexStream<StreamReportsRequest, StreamReportsResponse>): void {
      // One agent's reports are stored one after another, in the order sent (a truth window's
      // end after its start, "done" after the last truth).
      let chain = Promise.resolve();
      let failed = false;
      const answer = (m: StreamReportsResponse): void => {
        if (!call.cancelled && call.writable) call.write(m);
      };
      const store = async (m: StreamReportsRequest): Promise<void> => {
        if (failed || call.cancelled) return;
        try {
          const report = m.report?.report;
          if (!m.report || !report) throw new InvalidArgumentError(`report ${m.seq}: report is required`);
          await ctx.scheduler.report(m.report.agentId, report);
          answer({ seq: m.seq, code: status.OK, message: '' });
        } catch (err) {
          const se = toServiceError(err);
          if (se.code !== undefined && REFUSED_FOR_GOOD.has(se.code)) {
            answer({ seq: m.seq, code: se.code, message: se.message ?? '' });
            return;
          }
          // Not stored for now: end the stream here so that the agent sends this one again,
          // and nothing after it is stored before it.
          failed = true;
          ctx.onError(err, 'StreamReports');
          failStream(call, err);
        }
      };
      call.on('data', (m: StreamReportsRequest) => {
        chain = chain.then(() => store(m));
      });
      call.on('end', () => {
        void chain.then(() => {
          if (!failed && !call.cancelled) call.end();
        });
      });
    },
  };
}

/** Report errors the agent must not retry: the same report would be refused again. */
const REFUSED_FOR_GOOD: ReadonlySet<number> = new Set([
  status.INVALID_ARGUMENT,
  status.NOT_FOUND,
  status.FAILED_PRECONDITION,
]);

function matchesSelector(labels: Record<string, string>, selector: string): boolean {
  if (selector.trim() === '') return true;
  return selector.split(',').every((term) => {
    const [k, v] = term.split('=').map((s) => s.trim());
    if (!k) return true;
    return v === undefined ? k in labels : labels[k] === v;
  });
}

/** ControlService: what the CLI calls. */
export function controlService(
  ctx: ServiceContext,
): ControlServiceServer & { [name: string]: UntypedHandleCall } {
  return {
    listAgents: unary<ListAgentsRequest, ListAgentsResponse>(ctx, 'ListAgents', async (req) => {
      const agents = await ctx.store.listAgents();
      return { agents: agents.filter((a) => matchesSelector(a.info?.labels ?? {}, req.selector)) };
    }),

    planExperiment: unary<PlanExperimentRequest, PlanExperimentResponse>(
      ctx,
      'PlanExperiment',
      async (req) => ({
        plans: await ctx.scheduler.plan(req.specYaml, req.startUnixNano),
      }),
    ),

    startExperiment: unary<StartExperimentRequest, StartExperimentResponse>(
      ctx,
      'StartExperiment',
      async (req) => ({
        experiment: await ctx.scheduler.start(req.specYaml),
      }),
    ),

    getExperiment: unary<GetExperimentRequest, GetExperimentResponse>(ctx, 'GetExperiment', async (req) => {
      const experiment = await ctx.store.getExperiment(req.experimentId);
      if (!experiment) throw new NotFoundError('experiment', req.experimentId);
      return { experiment };
    }),

    listExperiments: unary<ListExperimentsRequest, ListExperimentsResponse>(
      ctx,
      'ListExperiments',
      async () => ({
        experiments: await ctx.store.listExperiments(),
      }),
    ),

    watchExperiment(call: ServerWritableStream<WatchExperimentRequest, WatchExperimentResponse>): void {
      const id = call.request.experimentId;
      const conn = ctx.duplicateRedis();
      let open = true;
      const stop = (): void => {
        open = false;
        conn.disconnect();
      };
      call.on('cancelled', stop);
      call.on('close', stop);
      void (async () => {
        const exp = await ctx.store.getExperiment(id);
        if (!exp) {
          failStream(call, new NotFoundError('experiment', id));
          return;
        }
        let after = '0';
        while (open) {
          const events = await ctx.store.readEvents(id, after, 1000, conn);
          for (const e of events) {
            after = e.eventId;
            if (e.kind === 'state') e.experiment = await ctx.store.getExperiment(id);
            call.write(e);
          }
          if (events.length === 0) {
            const now = await ctx.store.getExperiment(id);
            if (!now || isTerminal(now.state)) break;
          }
        }
        if (open) call.end();
      })()
        .catch((err: unknown) => {
          if (open) {
            ctx.onError(err, 'WatchExperiment');
            failStream(call, err);
          }
        })
        .finally(stop);
    },

    halt: unary<HaltRequest, HaltResponse>(ctx, 'Halt', (req) =>
      ctx.scheduler.halt(req.experimentId, req.reason),
    ),
  };
}
