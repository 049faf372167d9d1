/**
 * Downsampling of a host's aligned series for plotting, by bucketed extrema: the series is cut
 * into equal-count buckets and each bucket keeps its first sample and, for every track (each
 * metric, the score, the verdict), the samples holding the track's minimum and maximum. Spikes
 * and flagged samples survive, which is what an anomaly plot must show; the line between kept
 * samples is what a plot at that width could show anyway.
 */

/**
 * The indices (ascending, unique) of the samples to keep out of `n` so that at most
 * `maxPoints` remain; every index when `n <= maxPoints`. `tracks` are aligned with the samples
 * (length `n`; a shorter track is missing its last values); NaN and missing values are never
 * an extreme. The last sample is always kept.
 */
export function downsampleIndices(
  n: number,
  tracks: ReadonlyArray<ArrayLike<number>>,
  maxPoints: number,
): number[] {
  if (n <= maxPoints) return Array.from({ length: n }, (_, i) => i);
  const perBucket = 1 + 2 * tracks.length;
  const buckets = Math.max(1, Math.floor((maxPoints - 1) / perBucket));
  const size = Math.ceil(n / buckets);
  const keep = new Uint8Array(n);
  for (let start = 0; start < n; start += size) {
    const end = Math.min(n, start + size);
    keep[start] = 1;
    for (const track of tracks) {
      let lo = -1;
      let hi = -1;
      for (let i = start; i < end; i++) {
        const v = track[i];
        if (v === undefined || Number.isNaN(v)) continue;
        if (lo < 0 || v < (track[lo] as number)) lo = i;
        if (hi < 0 || v > (track[hi] as number)) hi = i;
      }
      if (lo >= 0) keep[lo] = 1;
      if (hi >= 0) keep[hi] = 1;
    }
  }
  keep[n - 1] = 1;
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (keep[i] === 1) out.push(i);
  return out;
}
