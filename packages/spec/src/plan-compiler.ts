import {
  createRng,
  type AgentInfo,
  type Injection,
  type Phase,
  type Plan,
  type Workload,
} from '@faultline/protocol';
import { limitConcurrentHosts, type IntervalCandidate } from './compiler/blast-radius.js';
import { coordinationDelays } from './compiler/coordination.js';
import { drawRandomOccurrences, type Draws, type DrawWindow } from './compiler/random-draws.js';
import { selectTargets } from './compiler/target-selection.js';
import { toWorkloadMessage } from './compiler/workload-message.js';
import { InvalidOptionsError } from './errors.js';
import type { ExperimentSpec, PhasedRandomSpec, WorkloadSpec } from './spec/experiment-spec.js';
import { parseExperimentSpec } from './spec/parse-spec.js';

/** Options of {@link compilePlans}. */
export interface CompileOptions {
  /** T0, the start of every plan, ns since the epoch; > 0. The compiler reads no clock. */
  startUnixNano: bigint;
  /**
   * Experiment id, the prefix of plan ids (`<experimentId>-<agentId>`) and injection ids
   * (`<experimentId>-<agentId>-<n>`); 1..128 characters, no whitespace.
   */
  experimentId: string;
}

/** Validates {@link CompileOptions}; throws {@link InvalidOptionsError}. */
export function resolveCompileOptions(raw: CompileOptions): CompileOptions {
  if (typeof raw.startUnixNano !== 'bigint' || raw.startUnixNano <= 0n) {
    throw new InvalidOptionsError(
      'startUnixNano',
      `startUnixNano must be a bigint > 0 (ns since the epoch), got ${String(raw.startUnixNano)}`,
    );
  }
  if (typeof raw.experimentId !== 'string' || !/^\S{1,128}$/.test(raw.experimentId)) {
    throw new InvalidOptionsError(
      'experimentId',
      `experimentId must be 1..128 characters without whitespace, got ${JSON.stringify(raw.experimentId)}`,
    );
  }
  return { startUnixNano: raw.startUnixNano, experimentId: raw.experimentId };
}

/** What the compiler did, for `faultline plan` and the scheduler's records. */
export interface CompileSummary {
  /** Agents matching the selector, before count/fraction. */
  matchedAgents: number;
  /** Agents with a plan. */
  selectedAgents: number;
  /** Most hosts allowed anomalous at once: max(1, floor(maxConcurrentFraction × selectedAgents)). */
  blastRadiusLimit: number;
  /** Random mode: cycles drawn for, over every timeline drawn (one per agent when independent, else one). */
  cycles: number;
  /** Injections generated per agent before coordination and the blast radius. */
  candidates: number;
  /** Injections in the plans. */
  injections: number;
  /** Injections the coordination delay pushed past their phase or plan end, dropped. */
  droppedPastEnd: number;
  /** Injections the coordination delay shortened to end with their phase or plan. */
  clippedByCoordination: number;
  /** Injections the blast radius delayed. */
  shifted: number;
  /** Shifted injections shortened to fit before their bound. */
  clippedByBlastRadius: number;
  /** Injections the blast radius dropped. */
  dropped: number;
  /** Most hosts anomalous at one instant in the compiled plans. */
  peakConcurrentHosts: number;
}

/** Plans (one per selected agent, sorted by agent id) and a summary. */
export interface CompileResult {
  plans: Plan[];
  summary: CompileSummary;
}

/** An injection before it is placed: offsets in ms from T0. */
interface Template {
  startMs: number;
  durationMs: number;
  /** Coordination and the blast radius never move it past this end. */
  regionEndMs: number;
  anomalyType: string;
  workload: Workload;
  replacesBaseline: boolean;
  phase: string;
}

interface Candidate extends IntervalCandidate {
  template: Template;
}

function templateOf(
  startMs: number,
  durationMs: number,
  regionEndMs: number,
  anomaly: { name: string; workload: WorkloadSpec; replacesBaseline: boolean },
  phase: string,
  messages: Map<WorkloadSpec, Workload>,
): Template {
  let workload = messages.get(anomaly.workload);
  if (workload === undefined) {
    workload = toWorkloadMessage(anomaly.workload);
    messages.set(anomaly.workload, workload);
  }
  return {
    startMs,
    durationMs,
    regionEndMs,
    anomalyType: anomaly.name,
    workload,
    replacesBaseline: anomaly.replacesBaseline,
    phase,
  };
}

function drawsToTemplates(draws: Draws, messages: Map<WorkloadSpec, Workload>): Template[] {
  return draws.occurrences.map((o) =>
    templateOf(o.startMs, o.durationMs, o.windowEndMs, o.anomaly, o.phase, messages),
  );
}

const NS_PER_MS = 1_000_000n;

/**
 * Compiles an experiment into one {@link Plan} per selected agent. Pure and deterministic:
 * no clock (T0 is `options.startUnixNano`), randomness only from `spec.spec.seed`, so the
 * same inputs give byte-identical plans (`Plan.encode(plan).finish()`); the order of
 * `agents` does not matter.
 *
 * Steps: select the targets (see `selectTargets`); lay out the anomalies on a timeline of
 * ms offsets (random mode: per-cycle draws on a nominal cycle, one timeline per agent when
 * coordination is `independent`, else one for the fleet; phased: each phase's injection;
 * scheduled: the schedule); delay each agent's copy by its coordination delay (dropping
 * or clipping what no longer fits in its phase or the plan); cap the hosts anomalous at
 * once (`limitConcurrentHosts`); number each agent's injections in time order.
 *
 * Plans share their workload sub-messages: treat them as read-only.
 *
 * Throws {@link InvalidOptionsError} for bad options or duplicate agent ids, and
 * `NoTargetsError` when the targets cannot be selected.
 *
 * @example
 * ```ts
 * const spec = parseExperimentSpec(yaml);
 * const { plans, summary } = compilePlans(spec, agents, { startUnixNano: t0, experimentId: 'exp-1' });
 * ```
 */
export function compilePlans(
  spec: ExperimentSpec,
  agents: readonly AgentInfo[],
  options: CompileOptions,
): CompileResult {
  const { startUnixNano, experimentId } = resolveCompileOptions(options);
  const seen = new Set<string>();
  agents.forEach((agent, i) => {
    if (agent.agentId === '')
      throw new InvalidOptionsError('agents', `agents[${i}].agentId must not be empty`);
    if (seen.has(agent.agentId)) {
      throw new InvalidOptionsError(
        'agents',
        `agents[${i}].agentId ${JSON.stringify(agent.agentId)} appears twice`,
      );
    }
    seen.add(agent.agentId);
  });

  const s = spec.spec;
  const seed = String(s.seed);
  const { matched, agents: targets } = selectTargets(s.targets, agents, s.seed);
  const hostCount = targets.length;
  const independent = s.coordination.mode === 'independent';
  const delays = coordinationDelays(s.coordination, targets);
  const messages = new Map<WorkloadSpec, Workload>();
  const cycleMs = s.baseline.estimatedWorkMs + s.baseline.sleepMs;

  // Fleet-wide templates (phases, schedule, coordinated random draws) and a per-agent
  // source of random draws when hosts are independent.
  const fleet: Template[] = [];
  let perAgentRandom: ((agentId: string) => Template[]) | undefined;
  let cycles = 0;
  const addRandom = (random: PhasedRandomSpec, windows: DrawWindow[]): void => {
    if (independent) {
      perAgentRandom = (agentId) => {
        const draws = drawRandomOccurrences(
          createRng(`${seed}/agent/${agentId}`),
          random.chance,
          random.catalog,
          windows,
          cycleMs,
        );
        cycles += draws.cycles;
        return drawsToTemplates(draws, messages);
      };
    } else {
      const draws = drawRandomOccurrences(
        createRng(`${seed}/fleet`),
        random.chance,
        random.catalog,
        windows,
        cycleMs,
      );
      cycles += draws.cycles;
      fleet.push(...drawsToTemplates(draws, messages));
    }
  };

  const a = s.anomalies;
  // Outside phased mode the plan still names its warm-up, so samples can be told apart.
  const phases =
    a.mode === 'phased'
      ? a.phases.map((p) => ({ name: p.name, startMs: p.startMs, endMs: p.startMs + p.durationMs }))
      : [
          ...(s.warmupMs > 0 ? [{ name: 'warmup', startMs: 0, endMs: s.warmupMs }] : []),
          { name: 'main', startMs: s.warmupMs, endMs: s.durationMs },
        ];
  switch (a.mode) {
    case 'none':
      break;
    case 'random':
      addRandom(a, [{ startMs: s.warmupMs, endMs: s.durationMs, phase: '' }]);
      break;
    case 'scheduled': {
      const byName = new Map(a.catalog.map((entry) => [entry.name, entry]));
      for (const item of a.schedule) {
        fleet.push(
          templateOf(item.atMs, item.durationMs, s.durationMs, byName.get(item.anomaly)!, '', messages),
        );
      }
      break;
    }
    case 'phased': {
      const windows: DrawWindow[] = [];
      for (const p of a.phases) {
        const endMs = p.startMs + p.durationMs;
        if (p.injection !== undefined) {
          const inj = p.injection;
          fleet.push(templateOf(p.startMs + inj.offsetMs, inj.durationMs, endMs, inj, p.name, messages));
        } else if (endMs > s.warmupMs) {
          windows.push({ startMs: Math.max(p.startMs, s.warmupMs), endMs, phase: p.name });
        }
      }
      if (a.random !== undefined) addRandom(a.random, windows);
      break;
    }
  }

  // Each agent's copy, delayed by its coordination delay.
  const candidates: Candidate[] = [];
  let generated = 0;
  let droppedPastEnd = 0;
  let clippedByCoordination = 0;
  for (let host = 0; host < hostCount; host++) {
    const own = perAgentRandom?.(targets[host]!.agentId) ?? [];
    const delay = delays[host]!;
    for (const list of [fleet, own]) {
      for (const template of list) {
        generated++;
        const startMs = template.startMs + delay;
        if (startMs >= template.regionEndMs) {
          droppedPastEnd++;
          continue;
        }
        let endMs = startMs + template.durationMs;
        if (endMs > template.regionEndMs) {
          endMs = template.regionEndMs;
          clippedByCoordination++;
        }
        candidates.push({ host, startMs, endMs, boundMs: template.regionEndMs, template });
      }
    }
  }

  const limit = Math.max(1, Math.floor(s.blastRadius.maxConcurrentFraction * hostCount + 1e-9));
  const placed = limitConcurrentHosts(candidates, hostCount, limit, s.blastRadius.policy);

  // Per agent, the placed injections in time order.
  const perHost: number[][] = Array.from({ length: hostCount }, () => []);
  for (let i = 0; i < candidates.length; i++) {
    if (!Number.isNaN(placed.startMs[i]!)) perHost[candidates[i]!.host]!.push(i);
  }
  const t0 = startUnixNano;
  const at = (ms: number): bigint => t0 + BigInt(ms) * NS_PER_MS;
  const planPhases: Phase[] = phases.map((p) => ({
    name: p.name,
    startUnixNano: at(p.startMs),
    endUnixNano: at(p.endMs),
  }));
  const baselineWorkload =
    s.baseline.workload === undefined ? undefined : toWorkloadMessage(s.baseline.workload);
  let injectionCount = 0;

  const plans = targets.map((agent, host): Plan => {
    const mine = perHost[host]!;
    mine.sort((x, y) => placed.startMs[x]! - placed.startMs[y]! || x - y);
    const injections = mine.map((i, n): Injection => {
      const template = candidates[i]!.template;
      return {
        injectionId: `${experimentId}-${agent.agentId}-${n + 1}`,
        anomalyType: template.anomalyType,
        startUnixNano: at(placed.startMs[i]!),
        endUnixNano: at(placed.endMs[i]!),
        workload: template.workload,
        replacesBaseline: template.replacesBaseline,
        phase: template.phase,
      };
    });
    injectionCount += injections.length;
    return {
      planId: `${experimentId}-${agent.agentId}`,
      experimentId,
      agentId: agent.agentId,
      startUnixNano: t0,
      endUnixNano: at(s.durationMs),
      samplingIntervalMs: s.samplingIntervalMs,
      baseline: { workload: baselineWorkload, sleepMs: s.baseline.sleepMs },
      phases: planPhases,
      injections,
      deadManTimeoutMs: s.deadManTimeoutMs ?? 0,
    };
  });

  return {
    plans,
    summary: {
      matchedAgents: matched,
      selectedAgents: hostCount,
      blastRadiusLimit: limit,
      cycles,
      candidates: generated,
      injections: injectionCount,
      droppedPastEnd,
      clippedByCoordination,
      shifted: placed.shifted,
      clippedByBlastRadius: placed.clipped,
      dropped: placed.dropped,
      peakConcurrentHosts: placed.peakConcurrentHosts,
    },
  };
}

/** A parsed and compiled experiment, in the shape the scheduler takes. */
export interface CompiledExperimentSpec extends CompileResult {
  /** `metadata.name`. */
  name: string;
  spec: ExperimentSpec;
  onMissingAck: 'abort' | 'continue';
  injectionsPlanned: number;
}

/**
 * Parses a YAML spec and compiles it: {@link parseExperimentSpec} then {@link compilePlans}.
 * Throws what they throw.
 */
export function compileExperiment(
  specYaml: string,
  agents: readonly AgentInfo[],
  options: CompileOptions,
): CompiledExperimentSpec {
  const spec = parseExperimentSpec(specYaml);
  const result = compilePlans(spec, agents, options);
  return {
    ...result,
    name: spec.metadata.name,
    spec,
    onMissingAck: spec.spec.onMissingAck,
    injectionsPlanned: result.summary.injections,
  };
}
