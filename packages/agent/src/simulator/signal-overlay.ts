/**
 * Sine and sawtooth overlays for the simulated cpu_user, as the DevOps generator defines
 * them: a signal between 0 and 100 with the period of a calendar unit, plus white noise whose
 * width follows a signal-to-noise ratio. Pure functions of the time: every host is in phase,
 * and a value depends on nothing but its timestamp and the noise draw.
 */
import type { Rng } from '@faultline/protocol';
import { InvalidOptionsError } from '../errors.js';

/** Signal frequencies: one period per minute, hour, day, week, month, quarter or year. */
export const SIGNAL_FREQUENCIES = ['m', 'h', 'd', 'we', 'mo', 'qu', 'ye'] as const;
export type SignalFrequency = (typeof SIGNAL_FREQUENCIES)[number];

const DAY_MS = 86_400_000;
/** The mean Gregorian year, 365.2425 days. */
const YEAR_MS = 365.2425 * DAY_MS;

/** The period of each frequency, ms. A month is a twelfth and a quarter a fourth of the mean Gregorian year. */
export const SIGNAL_PERIOD_MS: Readonly<Record<SignalFrequency, number>> = {
  m: 60_000,
  h: 3_600_000,
  d: DAY_MS,
  we: 7 * DAY_MS,
  mo: YEAR_MS / 12,
  qu: YEAR_MS / 4,
  ye: YEAR_MS,
};

/** One overlay: its signal-to-noise ratio and frequency. */
export interface SignalOverlayOptions {
  /**
   * Signal-to-noise ratio in [0, 100]: the signal (0..100) is `snr` times as wide as the
   * uniform white noise, which spans ±50/snr (20 → ±2.5); 100 means no noise; 0 turns the
   * overlay off. Default 0.
   */
  snr?: number;
  /** Period: m | h | d | we | mo | qu | ye. Default `m`. */
  frequency?: SignalFrequency;
}

export interface ResolvedSignalOverlay {
  readonly snr: number;
  readonly frequency: SignalFrequency;
  readonly periodMs: number;
  /** Half-width of the uniform noise, percentage points. */
  readonly noiseHalfWidth: number;
}

/**
 * Validates one overlay; undefined when it is off (absent or `snr` 0). `field` names it in
 * messages (`sinSignal`, `sawSignal`).
 */
export function resolveSignalOverlay(
  field: string,
  raw: SignalOverlayOptions | undefined,
): ResolvedSignalOverlay | undefined {
  const snr = raw?.snr ?? 0;
  if (!(Number.isFinite(snr) && snr >= 0 && snr <= 100)) {
    throw new InvalidOptionsError(`${field}.snr`, `${field}.snr must be in [0, 100], got ${snr}`);
  }
  const frequency = raw?.frequency ?? 'm';
  if (!SIGNAL_FREQUENCIES.includes(frequency)) {
    throw new InvalidOptionsError(
      `${field}.frequency`,
      `${field}.frequency must be one of ${SIGNAL_FREQUENCIES.join(', ')}, got ${JSON.stringify(frequency)}`,
    );
  }
  if (snr === 0) return undefined;
  return {
    snr,
    frequency,
    periodMs: SIGNAL_PERIOD_MS[frequency],
    noiseHalfWidth: snr >= 100 ? 0 : 50 / snr,
  };
}

/** The sine signal at `timeMs` (ms since the epoch): 50 + 50·sin(2π·t/period), in [0, 100]. */
export function sinSignal(timeMs: number, periodMs: number): number {
  return 50 + 50 * Math.sin((2 * Math.PI * (timeMs % periodMs)) / periodMs);
}

/** The sawtooth signal at `timeMs`: rises from 0 to 100 over each period, then drops back. */
export function sawSignal(timeMs: number, periodMs: number): number {
  const phase = (timeMs % periodMs) / periodMs;
  return 100 * (phase < 0 ? phase + 1 : phase);
}

/** Signal plus noise of one overlay at `timeMs` (not clamped). */
export function overlayValue(
  kind: 'sin' | 'saw',
  overlay: ResolvedSignalOverlay,
  timeMs: number,
  rng: Rng,
): number {
  const signal = kind === 'sin' ? sinSignal(timeMs, overlay.periodMs) : sawSignal(timeMs, overlay.periodMs);
  const noise = overlay.noiseHalfWidth === 0 ? 0 : (2 * rng.next() - 1) * overlay.noiseHalfWidth;
  return signal + noise;
}
