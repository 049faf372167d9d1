/**
 * Faultline's experiment specs and the plan compiler, pure (no I/O, no clock): parse and
 * validate a `kind: Experiment` YAML spec, then compile it against a set of agents into one
 * deterministic Plan per agent. Shared by the controller, the CLI and the agent's standalone
 * mode.
 *
 * @example
 * ```ts
 * import { parseExperimentSpec, compilePlans } from '@faultline/spec';
 * const spec = parseExperimentSpec(yamlText, { source: 'examples/phased-quick.yaml' });
 * const { plans, summary } = compilePlans(spec, agents, { startUnixNano: t0, experimentId: 'exp-1' });
 * ```
 */
export { compileExperiment, compilePlans, resolveCompileOptions } from './plan-compiler.js';
export type {
  CompiledExperimentSpec,
  CompileOptions,
  CompileResult,
  CompileSummary,
} from './plan-compiler.js';
export { parseExperimentSpec, validateExperimentSpec } from './spec/parse-spec.js';
export type { ParseSpecOptions } from './spec/parse-spec.js';
export { experimentSpecSchema, MAX_DURATION_MS, MIN_NOMINAL_CYCLE_MS } from './spec/spec-schema.js';
export { formatDuration, formatSize, parseChance, parseDuration, parseSize } from './spec/units.js';
export { WORKLOAD_KINDS } from './spec/experiment-spec.js';
export type {
  AnomaliesSpec,
  AnomalySpec,
  BaselineSpec,
  BurstWorkloadSpec,
  CoordinationSpec,
  CpuWorkloadSpec,
  ExperimentSpec,
  ExperimentSpecBody,
  IoWorkloadSpec,
  MatmulWorkloadSpec,
  MemoryWorkloadSpec,
  NetworkWorkloadSpec,
  NoAnomaliesSpec,
  PhasedAnomaliesSpec,
  PhasedRandomSpec,
  PhaseInjectionSpec,
  PhaseSpec,
  RandomAnomaliesSpec,
  ScheduledAnomaliesSpec,
  ScheduledInjectionSpec,
  StallWorkloadSpec,
  TargetsSpec,
  WorkloadKindName,
  WorkloadSpec,
} from './spec/experiment-spec.js';
export {
  InvalidOptionsError,
  InvalidSpecError,
  isInvalidOptionsError,
  isInvalidSpecError,
  isNoTargetsError,
  isSpecError,
  isSpecSyntaxError,
  NoTargetsError,
  SpecError,
  SpecErrorCode,
  SpecSyntaxError,
} from './errors.js';
export type { SpecProblem } from './errors.js';
