/** Nanoseconds since the epoch, as carried by every `*_unix_nano` field. */
export function nowUnixNano(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/** Converts ms since the epoch to ns since the epoch. */
export function msToUnixNano(ms: number): bigint {
  return BigInt(Math.round(ms)) * 1_000_000n;
}

/** Converts ns since the epoch to ms (number; exact to the ms). */
export function unixNanoToMs(ns: bigint): number {
  return Number(ns / 1_000_000n);
}
