import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ExecutorEvent } from './executor.js';

/** The seed RAM log's columns, in order. */
export const RAMLOG_HEADER = 'timestamp,state,event_type,event_details,ram_usage_mb';

/** `YYYY-MM-DD HH:MM:SS.mmm` in UTC: the seed's timestamp with milliseconds for sub-second sampling. */
export function ramlogTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

/** One CSV field, quoted per RFC 4180 when it holds a comma, quote or newline. */
export function csvField(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** Formats one RAM-log line. `ramBytes` is written as MB (2^20 bytes), two decimals; empty when absent. */
export function ramlogLine(
  timeMs: number,
  state: string,
  eventType: string,
  details: string,
  ramBytes?: number,
): string {
  const mb = ramBytes === undefined ? '' : (ramBytes / 2 ** 20).toFixed(2);
  return [ramlogTimestamp(timeMs), csvField(state), eventType, csvField(details), mb].join(',');
}

/**
 * Writes the seed's RAM log CSV as the plan runs: SCRIPT_START, WORKLOAD_START/END,
 * SAMPLED_STATE (one per sample, with the workload tree's RSS) and SCRIPT_END. Lines are
 * appended as they happen, so a crash loses nothing written so far.
 */
export class RamlogWriter {
  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, RAMLOG_HEADER + '\n');
  }

  event(e: ExecutorEvent): void {
    appendFileSync(this.path, ramlogLine(e.timeMs, e.state, e.type, e.details) + '\n');
  }

  sample(timeMs: number, state: string, rssBytes: number): void {
    appendFileSync(this.path, ramlogLine(timeMs, state, 'SAMPLED_STATE', '', rssBytes) + '\n');
  }
}
