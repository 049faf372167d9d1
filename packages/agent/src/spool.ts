/**
 * The spool: a bounded, append-only, crash-safe on-disk FIFO of opaque records.
 *
 * Each record gets a sequence number, contiguous from 1 over the life of the directory
 * (a refused append does not use one up). Records are read back in order with
 * {@link Spool.peekAfter} and leave the spool only when {@link Spool.ack} acknowledges them,
 * so a crash between sending and acknowledging replays rather than loses.
 *
 * Layout of `dir`:
 *
 * - `<seq, 16 digits>.seg`: a segment, named after the seq of its first record. Records are
 *   `[u32 crc32 of the rest][u32 payload length][u64 seq][payload]`, little-endian.
 * - `cursor`: `[u32 crc32 of the rest][u32 version][u64 acknowledged-through seq]`,
 *   overwritten in place after acks (once per event-loop turn, and on close).
 * - `LOCK`: the pid of the process that holds the spool.
 * - `created`: when the directory was first opened, ms since the epoch (decimal).
 *
 * On open every record is checked: a torn tail (a crash mid-write) or a corrupt region is
 * reported to `onError`, counted in {@link SpoolStats}, cut off and skipped, never
 * accepted. Records survive the process; without fsync, the last ones written before a
 * power loss may not, and then they show up as a torn tail.
 *
 * @example
 * ```ts
 * const spool = Spool.open({ dir: '/var/lib/faultline/spool', maxSpoolBytes: 64 * 2 ** 20 });
 * const r = spool.append(bytes);              // { ok: true, seq } or { ok: false, reason }
 * const rec = spool.peekAfter(0);             // the oldest record not yet acknowledged
 * if (rec) { await send(rec.payload); spool.ack(rec.seq); }
 * spool.close();
 * ```
 */
import {
  closeSync,
  existsSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { crc32 } from './crc32.js';
import {
  AgentError,
  InvalidOptionsError,
  SpoolCorruptError,
  SpoolFullError,
  SpoolLockedError,
  SpoolOpenError,
  SpoolWriteError,
} from './errors.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Options of a {@link Spool}. */
export interface SpoolOptions {
  /** Directory of the spool, created if missing. One process holds it at a time. Required. */
  dir: string;
  /**
   * Cap on the bytes of records not yet acknowledged, 16-byte record headers included.
   * An append that would exceed it is refused (the caller counts the loss). Disk use can
   * exceed it by at most one segment of acknowledged records awaiting deletion.
   * Bytes; default 256 MiB; an integer in [1 KiB, 2^50].
   */
  maxSpoolBytes?: number;
  /**
   * Size past which the next record starts a new segment file; acknowledged segments are
   * deleted whole. A record larger than this gets a segment of its own.
   * Bytes; default 8 MiB; an integer in [1 KiB, 1 GiB].
   */
  segmentBytes?: number;
  /**
   * Receives what went wrong without stopping the spool: {@link SpoolWriteError} (disk
   * full, I/O error), {@link SpoolFullError} (once each time the spool starts refusing),
   * {@link SpoolCorruptError} (skipped torn or corrupt data). Default: ignore.
   */
  onError?: (err: AgentError) => void;
}

/** {@link SpoolOptions} with defaults applied. */
export interface ResolvedSpoolOptions {
  readonly dir: string;
  readonly maxSpoolBytes: number;
  readonly segmentBytes: number;
  readonly onError: (err: AgentError) => void;
}

export const SPOOL_DEFAULTS = {
  maxSpoolBytes: 256 * MiB,
  segmentBytes: 8 * MiB,
} as const;

function integerIn(field: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionsError(field, `${field} must be an integer in [${min}, ${max}], got ${value}`);
  }
  return value;
}

/**
 * Applies defaults to `raw` and validates it; throws {@link InvalidOptionsError} naming the
 * field (prefixed with `prefix`), the range and the value.
 */
export function resolveSpoolOptions(raw: SpoolOptions, prefix = 'spool'): ResolvedSpoolOptions {
  if (typeof raw.dir !== 'string' || raw.dir.trim() === '') {
    throw new InvalidOptionsError(
      `${prefix}.dir`,
      `${prefix}.dir must be a non-empty path, got ${JSON.stringify(raw.dir)}`,
    );
  }
  return {
    dir: resolve(raw.dir),
    maxSpoolBytes: integerIn(
      `${prefix}.maxSpoolBytes`,
      raw.maxSpoolBytes ?? SPOOL_DEFAULTS.maxSpoolBytes,
      KiB,
      2 ** 50,
    ),
    segmentBytes: integerIn(
      `${prefix}.segmentBytes`,
      raw.segmentBytes ?? SPOOL_DEFAULTS.segmentBytes,
      KiB,
      1024 * MiB,
    ),
    onError: raw.onError ?? (() => {}),
  };
}

/** A record read back from the spool. */
export interface SpoolRecord {
  readonly seq: number;
  readonly payload: Uint8Array;
}

/** What {@link Spool.append} did: stored the record under `seq`, or refused it. */
export type AppendResult =
  | { readonly ok: true; readonly seq: number }
  | {
      readonly ok: false;
      /** `full`: the cap would be exceeded; `write-failed`: the disk refused (ENOSPC, EIO). */
      readonly reason: 'full' | 'write-failed';
      readonly error: SpoolFullError | SpoolWriteError;
    };

/** Counters and gauges of a spool, for metrics. Counters are since the spool was opened. */
export interface SpoolStats {
  /** Records not yet acknowledged. */
  readonly records: number;
  /** Bytes of those records, headers included: what `maxSpoolBytes` caps. */
  readonly bytes: number;
  /** Bytes of all segment files, acknowledged records awaiting deletion included. */
  readonly diskBytes: number;
  readonly segments: number;
  /** The seq the next appended record gets. */
  readonly nextSeq: number;
  readonly appended: number;
  readonly acknowledged: number;
  /** Appends refused because the cap would have been exceeded. */
  readonly refusedFull: number;
  /** Appends refused because the write failed (disk full, I/O error). */
  readonly refusedWriteFailed: number;
  /** Torn or corrupt regions skipped, each counted once however many records it held. */
  readonly corruptRecords: number;
  readonly corruptBytes: number;
}

const HEADER_BYTES = 16;
const CURSOR_BYTES = 16;
const CURSOR_VERSION = 1;
const SEGMENT_NAME = /^(\d{16})\.seg$/;

interface Segment {
  readonly firstSeq: number;
  readonly path: string;
  fd: number;
  /** Bytes in the file; for the last segment, where the next record goes. */
  size: number;
  /** Seq of the last valid record, 0 when it has none. */
  lastSeq: number;
  /** A failed write left bytes that could not be cut off: never append to it again. */
  broken: boolean;
}

interface Entry {
  readonly seq: number;
  readonly segment: Segment;
  readonly offset: number;
  readonly length: number;
}

/** Directories held by this process, so that a second open in the same process is refused too. */
const held = new Set<string>();

function segmentName(firstSeq: number): string {
  return `${String(firstSeq).padStart(16, '0')}.seg`;
}

function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoOf(err) === 'EPERM';
  }
}

function writeFully(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) {
    done += writeSync(fd, bytes, done, bytes.length - done, position + done);
  }
}

function readFully(fd: number, length: number, position: number): Buffer {
  const buf = Buffer.allocUnsafeSlow(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done === length ? buf : buf.subarray(0, done);
}

/** A bounded, crash-safe, on-disk FIFO of opaque records. See the module comment. */
export class Spool {
  readonly options: ResolvedSpoolOptions;
  private readonly segments: Segment[] = [];
  private entries: Entry[] = [];
  private head = 0;
  private liveBytes = 0;
  private ackedThrough = 0;
  private next = 1;
  private created = 0;
  private cursorFd = -1;
  private cursorWrite: NodeJS.Immediate | undefined;
  private closed = false;
  /** Why the last append was refused, so that a run of refusals for one reason is reported once. */
  private refusing: 'full' | 'write-failed' | undefined = undefined;
  private counters = {
    appended: 0,
    acknowledged: 0,
    refusedFull: 0,
    refusedWriteFailed: 0,
    corruptRecords: 0,
    corruptBytes: 0,
  };

  private constructor(options: ResolvedSpoolOptions) {
    this.options = options;
  }

  /**
   * Opens (or creates) the spool in `options.dir` and checks every record on disk.
   * Throws {@link InvalidOptionsError}, {@link SpoolLockedError} when another live process
   * holds the directory, or {@link SpoolOpenError} when it cannot be created or read.
   */
  static open(options: SpoolOptions): Spool {
    const spool = new Spool(resolveSpoolOptions(options));
    spool.load();
    return spool;
  }

  /** The seq the next appended record gets. */
  get nextSeq(): number {
    return this.next;
  }

  /**
   * When this spool directory was first created, ms since the epoch (the `created` file):
   * seqs are contiguous within one directory and start over in a new one, so the pair names a
   * record for good (a lost data dir must not reuse the ids of the records it lost).
   */
  get createdUnixMs(): number {
    return this.created;
  }

  /** The seq of the oldest record not yet acknowledged, undefined when there is none. */
  get firstSeq(): number | undefined {
    return this.entries[this.head]?.seq;
  }

  /** Records not yet acknowledged. */
  get length(): number {
    return this.entries.length - this.head;
  }

  /** Bytes of the records not yet acknowledged, headers included. */
  get bytes(): number {
    return this.liveBytes;
  }

  /**
   * Appends `payload` as the record `nextSeq`. Never throws for lack of space: a record
   * that would take the spool past `maxSpoolBytes`, or whose write fails (ENOSPC, EIO), is
   * refused, reported to `onError` (a full spool once per run of refusals) and counted.
   */
  append(payload: Uint8Array): AppendResult {
    this.assertOpen();
    const recordBytes = HEADER_BYTES + payload.length;
    if (this.liveBytes + recordBytes > this.options.maxSpoolBytes || payload.length > 0xffffffff) {
      this.counters.refusedFull++;
      const error = new SpoolFullError(this.options.dir, this.options.maxSpoolBytes, recordBytes);
      if (this.refusing !== 'full') this.options.onError(error);
      this.refusing = 'full';
      return { ok: false, reason: 'full', error };
    }
    const seq = this.next;
    const record = Buffer.allocUnsafe(recordBytes);
    record.writeUInt32LE(payload.length, 4);
    record.writeBigUInt64LE(BigInt(seq), 8);
    record.set(payload, HEADER_BYTES);
    record.writeUInt32LE(crc32(record, 0, 4), 0);

    let segment: Segment | undefined;
    let at = 0;
    try {
      segment = this.segmentFor(recordBytes);
      at = segment.size;
      writeFully(segment.fd, record, at);
    } catch (err) {
      if (segment) {
        try {
          ftruncateSync(segment.fd, at);
        } catch {
          segment.broken = true;
        }
      }
      this.counters.refusedWriteFailed++;
      const error = new SpoolWriteError(segment?.path ?? join(this.options.dir, segmentName(seq)), {
        cause: err,
      });
      this.options.onError(error);
      this.refusing = 'write-failed';
      return { ok: false, reason: 'write-failed', error };
    }
    segment.size = at + recordBytes;
    segment.lastSeq = seq;
    this.entries.push({ seq, segment, offset: at, length: payload.length });
    this.liveBytes += recordBytes;
    this.next = seq + 1;
    this.counters.appended++;
    this.refusing = undefined;
    return { ok: true, seq };
  }

  /**
   * The oldest record not yet acknowledged whose seq is greater than `afterSeq` (0 for the
   * very oldest), read from disk, or undefined when there is none. A record that fails its
   * checksum on the way back is reported, counted and skipped.
   */
  peekAfter(afterSeq: number): SpoolRecord | undefined {
    this.assertOpen();
    for (;;) {
      const i = this.indexAfter(afterSeq);
      const entry = this.entries[i];
      if (entry === undefined) return undefined;
      const problem = this.readRecord(entry);
      if (typeof problem !== 'string') return { seq: entry.seq, payload: problem };
      this.counters.corruptRecords++;
      this.counters.corruptBytes += HEADER_BYTES + entry.length;
      this.options.onError(
        new SpoolCorruptError(entry.segment.path, entry.offset, HEADER_BYTES + entry.length, problem),
      );
      this.entries.splice(i, 1);
      this.liveBytes -= HEADER_BYTES + entry.length;
    }
  }

  /** The seq of the first record not yet acknowledged after `afterSeq`, without reading it. */
  seqAfter(afterSeq: number): number | undefined {
    return this.entries[this.indexAfter(afterSeq)]?.seq;
  }

  /**
   * Acknowledges every record with seq <= `throughSeq`: they leave the spool, the cursor is
   * persisted, and segments holding only acknowledged records are deleted. Acknowledging
   * again is a no-op; a seq that was never appended is a RangeError.
   */
  ack(throughSeq: number): void {
    this.assertOpen();
    if (throughSeq <= this.ackedThrough) return;
    if (!Number.isInteger(throughSeq) || throughSeq >= this.next) {
      throw new RangeError(`cannot acknowledge seq ${throughSeq}: the last appended seq is ${this.next - 1}`);
    }
    while (this.head < this.entries.length && this.entries[this.head]!.seq <= throughSeq) {
      this.liveBytes -= HEADER_BYTES + this.entries[this.head]!.length;
      this.head++;
      this.counters.acknowledged++;
    }
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    this.ackedThrough = throughSeq;
    // One cursor write per event-loop turn however many acks it brings: a crash before it
    // only replays a few acknowledged records, which the server deduplicates.
    this.cursorWrite ??= setImmediate(() => {
      this.cursorWrite = undefined;
      if (!this.closed) this.writeCursor();
    });
    this.deleteAcknowledgedSegments();
  }

  stats(): SpoolStats {
    let diskBytes = 0;
    for (const s of this.segments) diskBytes += s.size;
    return {
      records: this.length,
      bytes: this.liveBytes,
      diskBytes,
      segments: this.segments.length,
      nextSeq: this.next,
      ...this.counters,
    };
  }

  /** Closes the files and releases the directory. Unacknowledged records stay for the next open. Idempotent. */
  close(): void {
    if (this.closed) return;
    if (this.cursorWrite !== undefined) this.writeCursor();
    this.closed = true;
    for (const s of this.segments) closeQuietly(s.fd);
    closeQuietly(this.cursorFd);
    try {
      unlinkSync(join(this.options.dir, 'LOCK'));
    } catch {
      // already gone: nothing to release
    }
    held.delete(this.options.dir);
  }

  private assertOpen(): void {
    if (this.closed) throw new RangeError(`the spool in ${this.options.dir} is closed`);
  }

  /** Index of the first live entry with seq > afterSeq (entries are sorted by seq). */
  private indexAfter(afterSeq: number): number {
    let lo = this.head;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.entries[mid]!.seq <= afterSeq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The payload of `entry`, or why it could not be read back. */
  private readRecord(entry: Entry): Uint8Array | string {
    let buf: Buffer;
    try {
      buf = readFully(entry.segment.fd, HEADER_BYTES + entry.length, entry.offset);
    } catch (err) {
      return `read failed: ${(err as Error).message}`;
    }
    const problem = checkRecord(buf, 0, entry.seq);
    return problem ?? new Uint8Array(buf.buffer, buf.byteOffset + HEADER_BYTES, entry.length);
  }

  private segmentFor(recordBytes: number): Segment {
    const active = this.segments.at(-1);
    if (active && !active.broken) {
      if (active.size === 0 || active.size + recordBytes <= this.options.segmentBytes) return active;
    }
    if (active?.broken && active.lastSeq === 0) {
      // It holds nothing valid, and its name is the one the new segment needs.
      closeQuietly(active.fd);
      unlinkQuietly(active.path);
      this.segments.pop();
    }
    const path = join(this.options.dir, segmentName(this.next));
    const fd = openSync(path, 'w+');
    const segment: Segment = { firstSeq: this.next, path, fd, size: 0, lastSeq: 0, broken: false };
    this.segments.push(segment);
    this.deleteAcknowledgedSegments();
    return segment;
  }

  private deleteAcknowledgedSegments(): void {
    for (let i = 0; i < this.segments.length - 1;) {
      const s = this.segments[i]!;
      if (s.lastSeq <= this.ackedThrough) {
        closeQuietly(s.fd);
        unlinkQuietly(s.path);
        this.segments.splice(i, 1);
      } else {
        i++;
      }
    }
  }

  private writeCursor(): void {
    clearImmediate(this.cursorWrite);
    this.cursorWrite = undefined;
    const buf = Buffer.alloc(CURSOR_BYTES);
    buf.writeUInt32LE(CURSOR_VERSION, 4);
    buf.writeBigUInt64LE(BigInt(this.ackedThrough), 8);
    buf.writeUInt32LE(crc32(buf, 0, 4), 0);
    try {
      writeFully(this.cursorFd, buf, 0);
    } catch (err) {
      // The records stay acknowledged in memory; a restart would replay them (deduplicated).
      this.options.onError(new SpoolWriteError(join(this.options.dir, 'cursor'), { cause: err }));
    }
  }

  private corrupt(path: string, offset: number, bytes: number, reason: string): void {
    this.counters.corruptRecords++;
    this.counters.corruptBytes += bytes;
    this.options.onError(new SpoolCorruptError(path, offset, bytes, reason));
  }

  private load(): void {
    const { dir } = this.options;
    try {
      mkdirSync(dir, { recursive: true });
    } catch (err) {
      throw new SpoolOpenError(dir, { cause: err });
    }
    this.lock();
    try {
      this.loadCreated();
      this.loadCursor();
      this.loadSegments();
    } catch (err) {
      this.close();
      throw err instanceof AgentError ? err : new SpoolOpenError(dir, { cause: err });
    }
  }

  private lock(): void {
    const { dir } = this.options;
    const path = join(dir, 'LOCK');
    if (held.has(dir)) throw new SpoolLockedError(dir, process.pid);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        writeFileSync(path, `${process.pid}\n`, { flag: 'wx' });
        held.add(dir);
        return;
      } catch (err) {
        if (errnoOf(err) !== 'EEXIST') throw new SpoolOpenError(dir, { cause: err });
      }
      let holder = NaN;
      try {
        holder = Number.parseInt(readFileSync(path, 'utf8'), 10);
      } catch {
        // vanished or unreadable: treat as stale
      }
      // Our own pid in a lock we do not hold is a previous life of this pid (a restarted container).
      if (Number.isInteger(holder) && holder !== process.pid && processAlive(holder)) {
        throw new SpoolLockedError(dir, holder);
      }
      unlinkQuietly(path);
    }
    throw new SpoolOpenError(dir, { cause: new Error('the LOCK file keeps reappearing') });
  }

  private loadCreated(): void {
    const path = join(this.options.dir, 'created');
    const text = existsSync(path) ? readFileSync(path, 'utf8').trim() : '';
    if (/^\d{1,16}$/.test(text)) {
      this.created = Number(text);
      return;
    }
    if (text !== '') this.corrupt(path, 0, text.length, 'the creation time is unreadable; taking a new one');
    // A directory that holds records but no creation time predates the file: it keeps the
    // ids it had (0 names "before the creation time was recorded").
    const hasRecords = readdirSync(this.options.dir).some((name) => SEGMENT_NAME.test(name));
    this.created = hasRecords && text === '' ? 0 : Date.now();
    writeFileSync(path, `${this.created}\n`);
  }

  private loadCursor(): void {
    const path = join(this.options.dir, 'cursor');
    this.cursorFd = openSync(path, 'a+');
    closeSync(this.cursorFd);
    this.cursorFd = openSync(path, 'r+');
    const size = fstatSync(this.cursorFd).size;
    if (size === 0) return;
    const buf = readFully(this.cursorFd, CURSOR_BYTES, 0);
    const ok =
      buf.length === CURSOR_BYTES &&
      buf.readUInt32LE(0) === crc32(buf, 0, 4) &&
      buf.readUInt32LE(4) === CURSOR_VERSION;
    if (!ok) {
      // Replaying from the oldest record on disk is safe: the server deduplicates.
      this.corrupt(path, 0, size, 'the acknowledgement cursor is corrupt; replaying every record on disk');
      return;
    }
    this.ackedThrough = Number(buf.readBigUInt64LE(8));
  }

  private loadSegments(): void {
    const { dir } = this.options;
    const names = readdirSync(dir)
      .map((name) => ({ name, m: SEGMENT_NAME.exec(name) }))
      .filter((x): x is { name: string; m: RegExpExecArray } => x.m !== null)
      .map((x) => ({ path: join(dir, x.name), firstSeq: Number(x.m[1]) }))
      .sort((a, b) => a.firstSeq - b.firstSeq);
    let lastSeq = 0;
    for (let i = 0; i < names.length; i++) {
      const { path, firstSeq } = names[i]!;
      const isLast = i === names.length - 1;
      const fd = openSync(path, 'r+');
      const segment: Segment = { firstSeq, path, fd, size: 0, lastSeq: 0, broken: false };
      this.segments.push(segment);
      const fileSize = fstatSync(fd).size;
      const data = readFully(fd, fileSize, 0);
      let offset = 0;
      let expected = Math.max(firstSeq, lastSeq + 1);
      let problem: string | undefined;
      while (offset < data.length) {
        problem = checkRecord(data, offset, expected);
        if (problem !== undefined) break;
        const length = data.readUInt32LE(offset + 4);
        if (expected > this.ackedThrough) {
          this.entries.push({ seq: expected, segment, offset, length });
          this.liveBytes += HEADER_BYTES + length;
        }
        segment.lastSeq = expected;
        lastSeq = expected;
        expected++;
        offset += HEADER_BYTES + length;
      }
      segment.size = fileSize;
      if (problem !== undefined) {
        this.corrupt(path, offset, fileSize - offset, problem);
        if (isLast) {
          // Cut the tail off so that new records follow the last valid one.
          try {
            ftruncateSync(fd, offset);
            segment.size = offset;
          } catch {
            segment.broken = true;
          }
        }
      }
    }
    const tail = this.segments.at(-1);
    this.next = Math.max(lastSeq + 1, tail?.firstSeq ?? 1, this.ackedThrough + 1);
    this.deleteAcknowledgedSegments();
  }
}

/** Why the record at `offset` of `buf` is not a valid record `seq`, or undefined when it is. */
function checkRecord(buf: Buffer, offset: number, seq: number): string | undefined {
  if (buf.length - offset < HEADER_BYTES) return 'torn record header';
  const length = buf.readUInt32LE(offset + 4);
  const end = offset + HEADER_BYTES + length;
  if (end > buf.length) return 'torn record: its length runs past the end of the file';
  if (buf.readUInt32LE(offset) !== crc32(buf, 0, offset + 4, end)) return 'checksum mismatch';
  const actual = Number(buf.readBigUInt64LE(offset + 8));
  if (actual !== seq) return `out-of-sequence record: expected seq ${seq}, found ${actual}`;
  return undefined;
}

function closeQuietly(fd: number): void {
  if (fd < 0) return;
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}
