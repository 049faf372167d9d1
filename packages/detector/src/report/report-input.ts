import type { Severity } from '@faultline/protocol';
import type { EvaluationReport } from '../evaluation.js';

/**
 * Everything a Faultline report shows, from a live experiment (replayed from the streams)
 * or from `faultline score FILE` (offline). Times are ms since the Unix epoch.
 */
export interface ReportInput {
  /** Report title, e.g. the experiment name or the scored file's name. */
  title: string;
  /** Experiment id, or the file path for offline reports. */
  source: string;
  /** `live` (replayed from JetStream) or `offline` (a scored file). */
  mode: 'live' | 'offline';
  /** When the report was made, ms since the epoch (given, not read from a clock). */
  generatedAtMs: number;
  /** Model that produced the scores: `iforest`, `bands` or `fused`. */
  model: string;
  /** Fused-score threshold used for `isAnomaly`. */
  threshold: number;
  hosts: ReportHost[];
  /** Ground truth; empty when there is none (offline without labels). */
  truth: ReportTruthWindow[];
  /** Detected anomaly events. */
  events: ReportEvent[];
  /** The evaluation against the truth; undefined when there is no truth. */
  evaluation: EvaluationReport | undefined;
}

/** One host's series: aligned arrays, one entry per sample. */
export interface ReportHost {
  hostId: string;
  timesMs: number[];
  /** Metric name → values (NaN for missing). Only the metrics worth plotting (a handful). */
  metrics: Record<string, number[]>;
  /** Per-sample score in [0, 1]. */
  scores: number[];
  /** Per-sample verdict. */
  isAnomaly: boolean[];
}

export interface ReportTruthWindow {
  hostId: string;
  injectionId: string;
  anomalyType: string;
  startMs: number;
  endMs: number;
  /** Requested vs achieved, flattened for display (e.g. `peak_rss_delta_bytes`). */
  requested: Record<string, number | string>;
  achieved: Record<string, number>;
  reachedTarget: boolean;
  shortfall: string;
}

export interface ReportEvent {
  eventId: string;
  hostId: string;
  startMs: number;
  /** Equal to startMs while still open at report time. */
  endMs: number;
  peakScore: number;
  severity: Severity;
  /** Metrics that drove it, most first. */
  topMetrics: string[];
}
