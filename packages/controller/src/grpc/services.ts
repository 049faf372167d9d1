import {
  status,
  type sendUnaryData,
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
  type WatchAssignmentsRequest,
  type WatchAssignmentsResponse,
  type WatchExperimentRequest,
  type WatchExperimentResponse,
} from '@faultline/protocol';
import { InvalidArgumentError, NotFoundError } from '../errors.js';
import { isTerminal, type Scheduler } from '../scheduler.js';
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
      return {
        agentId: info.agentId,
        leaseTtlMs: ctx.leaseMs,
        partition: partitionOf(info.agentId, ctx.partitions),
      };
    }),

    watchAssignments(call: ServerWritableStream<WatchAssignmentsRequest, WatchAssignmentsResponse>): void {
      const agentId = call.request.agentId;
      const conn = {
        agentId,
        send: (m: WatchAssignmentsResponse) => {
          if (!call.cancelled && call.writable) call.write(m);
        },
      };
      void (async () => {
        const known = await ctx.store.getAgent(agentId);
        if (!known) {
          call.destroy(
            Object.assign(
              new Error(`agent ${JSON.stringify(agentId)} is not registered: call Register first`),
              { code: status.NOT_FOUND },
            ),
          );
          return;
        }
        conn.send({ assignment: { $case: 'heartbeat', value: { timeUnixNano: ctx.nowNs() } } });
        await ctx.store.renewLeases([agentId], ctx.leaseMs, ctx.nowNs());
        await ctx.scheduler.attach(conn);
      })().catch((err: unknown) => ctx.onError(err, 'WatchAssignments'));
      const end = (): void => ctx.scheduler.detach(conn);
      call.on('cancelled', end);
      call.on('close', end);
      call.on('error', end);
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
  };
}

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
          call.destroy(
            Object.assign(new Error(`experiment ${JSON.stringify(id)} not found`), {
              code: status.NOT_FOUND,
            }),
          );
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
            call.destroy(err as Error);
          }
        })
        .finally(stop);
    },

    halt: unary<HaltRequest, HaltResponse>(ctx, 'Halt', (req) =>
      ctx.scheduler.halt(req.experimentId, req.reason),
    ),
  };
}
