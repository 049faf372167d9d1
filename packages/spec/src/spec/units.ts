/**
 * Human units of the experiment spec: durations (`500ms`, `90s`, `15m`, `1h30m`), sizes
 * (`256Mi`, `1Gi`, `512MB`, plain bytes) and chances (`1/50`, `0.02`, `2%`). Each parser
 * returns the normalised number (milliseconds, bytes, a probability) or `undefined` when
 * the value does not have the form, so that the schema can name the field and the value.
 */

const DURATION_UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_FORM = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;

/**
 * Parses a duration such as `500ms`, `90s`, `15m`, `1h30m` or `1.5s` to whole milliseconds
 * (rounded to the nearest ms). Units: `ms`, `s`, `m`, `h`; parts may repeat in any order
 * and add up. Numbers without a unit are not durations (is `90` seconds or minutes?).
 */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (!DURATION_FORM.test(text)) return undefined;
  let ms = 0;
  for (const [, amount, unit] of text.matchAll(DURATION_PART)) {
    ms += Number(amount) * DURATION_UNIT_MS[unit!]!;
  }
  const rounded = Math.round(ms);
  return Number.isSafeInteger(rounded) ? rounded : undefined;
}

/** Formats milliseconds the way a spec writes them: `0s`, `250ms`, `90s` → `1m30s`, `1h30m`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const parts: string[] = [];
  let rest = Math.round(ms);
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  if (rest > 0) parts.push(`${rest}ms`);
  return parts.join('');
}

const SIZE_UNIT_BYTES: Readonly<Record<string, number>> = {
  '': 1,
  B: 1,
  k: 1e3,
  K: 1e3,
  KB: 1e3,
  M: 1e6,
  MB: 1e6,
  G: 1e9,
  GB: 1e9,
  T: 1e12,
  TB: 1e12,
  Ki: 2 ** 10,
  KiB: 2 ** 10,
  Mi: 2 ** 20,
  MiB: 2 ** 20,
  Gi: 2 ** 30,
  GiB: 2 ** 30,
  Ti: 2 ** 40,
  TiB: 2 ** 40,
};
const SIZE_FORM = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/;

/**
 * Parses a size to whole bytes (rounded): a non-negative integer number of bytes, or a
 * string with a decimal (`k`/`K`/`KB`, `M`/`MB`, `G`/`GB`, `T`/`TB`: powers of 1000) or a
 * binary unit (`Ki`/`KiB`, `Mi`/`MiB`, `Gi`/`GiB`, `Ti`/`TiB`: powers of 1024), or `B`.
 */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  }
  if (typeof value !== 'string') return undefined;
  const match = SIZE_FORM.exec(value.trim());
  if (match === null) return undefined;
  const unit = SIZE_UNIT_BYTES[match[2]!];
  if (unit === undefined) return undefined;
  const bytes = Math.round(Number(match[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** Formats bytes with the largest binary unit that divides them: `268435456` → `256Mi`. */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [
    ['Ti', 2 ** 40],
    ['Gi', 2 ** 30],
    ['Mi', 2 ** 20],
    ['Ki', 2 ** 10],
  ] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}

const RATIO_FORM = /^(\d+)\s*\/\s*(\d+)$/;
const PERCENT_FORM = /^(\d+(?:\.\d+)?)\s*%$/;

/**
 * Parses a probability in (0, 1]: a number (`0.02`), a ratio of integers (`1/50`) or a
 * percentage (`2%`). Values outside (0, 1] are returned as they are (the caller checks the
 * range, so that the message can say which range); unparsable values give `undefined`.
 */
export function parseChance(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  const ratio = RATIO_FORM.exec(text);
  if (ratio !== null) {
    const denominator = Number(ratio[2]);
    return denominator === 0 ? undefined : Number(ratio[1]) / denominator;
  }
  const percent = PERCENT_FORM.exec(text);
  if (percent !== null) return Number(percent[1]) / 100;
  return undefined;
}
