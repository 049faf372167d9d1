export interface EventuallyOptions {
  /** Give up after this long, ms. Default 5000. */
  timeoutMs?: number;
  /** Pause between attempts, ms. Default 20. */
  intervalMs?: number;
  /** What is awaited, for the timeout message. */
  name?: string;
}

/**
 * Polls `fn` until it returns a value other than `false` without throwing, and resolves
 * with that value. On timeout it rejects with the last error, naming what was awaited.
 * Use it instead of fixed sleeps.
 */
export async function eventually<T>(
  fn: () => T | Promise<T>,
  options: EventuallyOptions = {},
): Promise<Exclude<T, false>> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const intervalMs = options.intervalMs ?? 20;
  const deadline = Date.now() + timeoutMs;
  let last: unknown = new Error('condition returned false');
  for (;;) {
    try {
      const value = await fn();
      if (value !== false) return value as Exclude<T, false>;
      last = new Error('condition returned false');
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      const what = options.name ?? 'condition';
      const reason = last instanceof Error ? last.message : String(last);
      throw new Error(`eventually(${what}) timed out after ${timeoutMs} ms: ${reason}`, { cause: last });
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
