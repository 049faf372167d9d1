/**
 * The Faultline detector: Isolation Forest (scikit-learn's semantics) and online forecast
 * bands, fused into per-sample scores and hysteresis anomaly events; evaluation against the
 * injected ground truth; labelled dataset export from the streams.
 *
 * @example
 * ```ts
 * import { evaluateDetection, exportExperiment } from '@faultline/detector';
 * const report = evaluateDetection({ points, truth, events });
 * await exportExperiment({ natsUrl, experimentId, format: 'parquet', layout: 'wide', outDir: 'out' });
 * ```
 */
export * from './anomaly-events.js';
export * from './errors.js';
export * from './evaluation.js';
export * from './export/index.js';
export * from './features.js';
export * from './forecast-bands.js';
export * from './isolation-forest.js';
export * from './matrix.js';
export * from './offline/index.js';
export * from './report/index.js';
export * from './runner/index.js';
export { DETECTOR_USAGE, parseDetectorConfig } from './config.js';
export type { DetectorConfig, DetectorLogLevel } from './config.js';
