import {
  existsSync,
  openSync,
  closeSync,
  readdirSync,
  statSync,
  symlinkSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
  writeSync,
  appendFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '@faultline/testkit';
import { describe, expect, it } from 'vitest';
import { crc32 } from './crc32.js';
import {
  AgentError,
  isInvalidOptionsError,
  isSpoolCorruptError,
  isSpoolFullError,
  isSpoolLockedError,
  isSpoolWriteError,
} from './errors.js';
import { resolveSpoolOptions, Spool } from './spool.js';

const HEADER = 16;

function payload(n: number, size = 100): Uint8Array {
  const p = new Uint8Array(size);
  for (let i = 0; i < size; i++) p[i] = (n * 31 + i) & 0xff;
  return p;
}

function collect(): { errors: AgentError[]; onError: (err: AgentError) => void } {
  const errors: AgentError[] = [];
  return { errors, onError: (err) => errors.push(err) };
}

function segmentFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.seg'))
    .sort();
}

describe('crc32', () => {
  it('gives the standard check value and chains across chunks', () => {
    const bytes = new TextEncoder().encode('123456789');
    expect(crc32(bytes)).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32(bytes.subarray(4), crc32(bytes.subarray(0, 4)))).toBe(0xcbf43926);
    expect(crc32(bytes, 0, 2, 7)).toBe(crc32(bytes.subarray(2, 7)));
  });
});

describe('resolveSpoolOptions', () => {
  it('applies the documented defaults', () => {
    const o = resolveSpoolOptions({ dir: '/tmp/x' });
    expect(o.maxSpoolBytes).toBe(256 * 1024 * 1024);
    expect(o.segmentBytes).toBe(8 * 1024 * 1024);
  });

  it('names the field, the range and the value when one is out of range', () => {
    expect(() => resolveSpoolOptions({ dir: '/tmp/x', maxSpoolBytes: 1.5 })).toThrow(
      'spool.maxSpoolBytes must be an integer in [1024, 1125899906842624], got 1.5',
    );
    expect(() => resolveSpoolOptions({ dir: '/tmp/x', segmentBytes: 10 }, 'truthSpool')).toThrow(
      'truthSpool.segmentBytes must be an integer in [1024, 1073741824], got 10',
    );
    let caught: unknown;
    try {
      resolveSpoolOptions({ dir: '' });
    } catch (err) {
      caught = err;
    }
    expect(isInvalidOptionsError(caught)).toBe(true);
  });
});

describe('Spool', () => {
  it('returns records in append order and keeps each until it is acknowledged', async () => {
    await using dir = tempDir('spool-');
    const spool = Spool.open({ dir: dir.path });
    try {
      for (let i = 1; i <= 5; i++) expect(spool.append(payload(i))).toEqual({ ok: true, seq: i });
      expect(spool.length).toBe(5);
      expect(spool.bytes).toBe(5 * (HEADER + 100));
      expect(spool.peekAfter(0)).toEqual({ seq: 1, payload: payload(1) });
      expect(spool.peekAfter(2)?.seq).toBe(3);
      expect(spool.peekAfter(5)).toBeUndefined();
      expect(spool.seqAfter(3)).toBe(4);

      spool.ack(2);
      expect(spool.firstSeq).toBe(3);
      expect(spool.length).toBe(3);
      expect(spool.bytes).toBe(3 * (HEADER + 100));
      expect(spool.peekAfter(0)).toEqual({ seq: 3, payload: payload(3) });
      spool.ack(2); // again: no-op
      expect(spool.length).toBe(3);
      expect(() => spool.ack(6)).toThrow(RangeError);

      spool.ack(5);
      expect(spool.length).toBe(0);
      expect(spool.firstSeq).toBeUndefined();
      expect(spool.peekAfter(0)).toBeUndefined();
      expect(spool.stats()).toMatchObject({ appended: 5, acknowledged: 5, records: 0, bytes: 0 });
    } finally {
      spool.close();
    }
  });

  it('refuses an append past maxSpoolBytes without using up a seq, reports the run once and accepts again after an ack', async () => {
    await using dir = tempDir('spool-');
    const { errors, onError } = collect();
    const spool = Spool.open({ dir: dir.path, maxSpoolBytes: 1024, onError });
    try {
      // 4 records of 216 bytes = 864 bytes fit; a fifth would make 1080 > 1024.
      for (let i = 1; i <= 4; i++) expect(spool.append(payload(i, 200)).ok).toBe(true);
      const refused = spool.append(payload(5, 200));
      expect(refused.ok).toBe(false);
      expect(!refused.ok && refused.reason).toBe('full');
      expect(spool.append(payload(6, 200)).ok).toBe(false);
      expect(spool.nextSeq).toBe(5);
      expect(spool.stats()).toMatchObject({ refusedFull: 2, records: 4, bytes: 864 });
      expect(errors).toHaveLength(1);
      expect(isSpoolFullError(errors[0])).toBe(true);

      spool.ack(1);
      expect(spool.append(payload(7, 200))).toEqual({ ok: true, seq: 5 });
      expect(spool.append(payload(8, 200)).ok).toBe(false);
      expect(errors).toHaveLength(2); // a new run of refusals is reported again
    } finally {
      spool.close();
    }
  });

  it('records when its directory was created, keeps it across restarts, and takes a new one in a new directory', async () => {
    await using dir = tempDir('spool-');
    const before = Date.now();
    let spool = Spool.open({ dir: dir.path });
    const created = spool.createdUnixMs;
    expect(created).toBeGreaterThanOrEqual(before);
    expect(created).toBeLessThanOrEqual(Date.now());
    spool.append(payload(1));
    spool.close();
    spool = Spool.open({ dir: dir.path });
    expect(spool.createdUnixMs).toBe(created);
    spool.close();

    // A directory with records from before the file existed keeps ids without a time (0).
    unlinkSync(join(dir.path, 'created'));
    spool = Spool.open({ dir: dir.path });
    expect(spool.createdUnixMs).toBe(0);
    spool.close();

    // An unreadable time is reported and replaced.
    writeFileSync(join(dir.path, 'created'), 'garbage\n');
    const { errors, onError } = collect();
    spool = Spool.open({ dir: dir.path, onError });
    expect(spool.createdUnixMs).toBeGreaterThanOrEqual(before);
    expect(errors.map((e) => e.message).join('\n')).toContain('the creation time is unreadable');
    spool.close();
  });

  it('continues after a restart where it left off: unacknowledged records, the cursor and the next seq', async () => {
    await using dir = tempDir('spool-');
    let spool = Spool.open({ dir: dir.path });
    for (let i = 1; i <= 3; i++) spool.append(payload(i));
    spool.ack(1);
    spool.close();

    spool = Spool.open({ dir: dir.path });
    expect(spool.firstSeq).toBe(2);
    expect(spool.length).toBe(2);
    expect(spool.nextSeq).toBe(4);
    expect(spool.peekAfter(0)).toEqual({ seq: 2, payload: payload(2) });
    expect(spool.peekAfter(2)).toEqual({ seq: 3, payload: payload(3) });
    expect(spool.append(payload(4))).toEqual({ ok: true, seq: 4 });
    spool.ack(4);
    spool.close();

    // Everything acknowledged: the seq still continues.
    spool = Spool.open({ dir: dir.path });
    expect(spool.length).toBe(0);
    expect(spool.nextSeq).toBe(5);
    expect(spool.append(payload(5))).toEqual({ ok: true, seq: 5 });
    expect(spool.stats().corruptRecords).toBe(0);
    spool.close();
  });

  it('detects a torn tail left by a crash mid-write, counts it, cuts it off and carries on', async () => {
    await using dir = tempDir('spool-');
    let spool = Spool.open({ dir: dir.path });
    for (let i = 1; i <= 3; i++) spool.append(payload(i));
    spool.close();
    const [file] = segmentFiles(dir.path);
    const path = join(dir.path, file!);
    truncateSync(path, 2 * (HEADER + 100) + 40); // the third record is half written

    const { errors, onError } = collect();
    spool = Spool.open({ dir: dir.path, onError });
    expect(spool.length).toBe(2);
    expect(spool.peekAfter(1)).toEqual({ seq: 2, payload: payload(2) });
    expect(spool.peekAfter(2)).toBeUndefined();
    expect(spool.stats()).toMatchObject({ corruptRecords: 1, corruptBytes: 40 });
    expect(errors).toHaveLength(1);
    expect(isSpoolCorruptError(errors[0])).toBe(true);
    expect(errors[0]!.message).toContain('offset 232');
    expect(statSync(path).size).toBe(2 * (HEADER + 100));
    expect(spool.append(payload(30))).toEqual({ ok: true, seq: 3 });
    spool.close();

    spool = Spool.open({ dir: dir.path, onError });
    expect(errors).toHaveLength(1); // clean now
    expect(spool.peekAfter(2)).toEqual({ seq: 3, payload: payload(30) });
    spool.close();
  });

  it('never accepts a corrupt record: a flipped byte or a garbage tail is skipped and counted', async () => {
    await using dir = tempDir('spool-');
    let spool = Spool.open({ dir: dir.path, segmentBytes: 1024 });
    // 316-byte records, 3 per segment: segments start at seqs 1, 4, 7.
    for (let i = 1; i <= 9; i++) spool.append(payload(i, 300));
    spool.close();
    const files = segmentFiles(dir.path);
    expect(files).toEqual(['0000000000000001.seg', '0000000000000004.seg', '0000000000000007.seg']);

    // Flip one payload byte of record 2 (in the first segment) and add zeros after the last.
    const fd = openSync(join(dir.path, files[0]!), 'r+');
    writeSync(fd, Buffer.from([0xff ^ payload(2, 300)[10]!]), 0, 1, HEADER + 300 + HEADER + 10);
    closeSync(fd);
    appendFileSync(join(dir.path, files[2]!), Buffer.alloc(64));

    const { errors, onError } = collect();
    spool = Spool.open({ dir: dir.path, segmentBytes: 1024, onError });
    const seqs: number[] = [];
    for (let r = spool.peekAfter(0); r; r = spool.peekAfter(r.seq)) {
      seqs.push(r.seq);
      expect(r.payload).toEqual(payload(r.seq, 300));
    }
    // Records after the flipped byte in that segment cannot be located any more.
    expect(seqs).toEqual([1, 4, 5, 6, 7, 8, 9]);
    expect(spool.stats()).toMatchObject({ corruptRecords: 2, corruptBytes: 2 * 316 + 64 });
    expect(errors.map((e) => (isSpoolCorruptError(e) ? e.reason : e.message))).toEqual([
      'checksum mismatch',
      'checksum mismatch',
    ]);
    expect(spool.nextSeq).toBe(10);
    spool.close();
  });

  it('skips a record that no longer matches its checksum when it is read back', async () => {
    await using dir = tempDir('spool-');
    const { errors, onError } = collect();
    const spool = Spool.open({ dir: dir.path, onError });
    try {
      for (let i = 1; i <= 3; i++) spool.append(payload(i));
      const fd = openSync(join(dir.path, segmentFiles(dir.path)[0]!), 'r+');
      writeSync(fd, Buffer.from([0, 0, 0]), 0, 3, HEADER + 100 + HEADER + 50);
      closeSync(fd);
      expect(spool.peekAfter(1)?.seq).toBe(3);
      expect(spool.length).toBe(2);
      expect(spool.bytes).toBe(2 * (HEADER + 100));
      expect(errors).toHaveLength(1);
      expect(isSpoolCorruptError(errors[0])).toBe(true);
    } finally {
      spool.close();
    }
  });

  it('rolls over to new segments and deletes the ones whose records are all acknowledged', async () => {
    await using dir = tempDir('spool-');
    let spool = Spool.open({ dir: dir.path, segmentBytes: 1024 });
    for (let i = 1; i <= 10; i++) spool.append(payload(i, 300));
    expect(segmentFiles(dir.path)).toEqual([
      '0000000000000001.seg',
      '0000000000000004.seg',
      '0000000000000007.seg',
      '0000000000000010.seg',
    ]);
    expect(spool.stats()).toMatchObject({ segments: 4, diskBytes: 10 * 316 });
    spool.ack(5);
    expect(segmentFiles(dir.path)).toEqual([
      '0000000000000004.seg',
      '0000000000000007.seg',
      '0000000000000010.seg',
    ]);
    spool.ack(6);
    expect(segmentFiles(dir.path)).toEqual(['0000000000000007.seg', '0000000000000010.seg']);
    spool.ack(10);
    // The last segment stays (its name carries the seq) until the next one begins.
    expect(segmentFiles(dir.path)).toEqual(['0000000000000010.seg']);
    expect(spool.stats()).toMatchObject({ records: 0, bytes: 0, diskBytes: 316 });
    spool.close();

    spool = Spool.open({ dir: dir.path, segmentBytes: 1024 });
    expect(spool.nextSeq).toBe(11);
    for (let i = 11; i <= 13; i++) spool.append(payload(i, 300));
    // 11 and 12 still fit into segment 10; 13 starts a new one and segment 10 stays while 11 is unacknowledged.
    expect(segmentFiles(dir.path)).toEqual(['0000000000000010.seg', '0000000000000013.seg']);
    expect(spool.peekAfter(0)?.seq).toBe(11);
    spool.close();
  });

  it.skipIf(!existsSync('/dev/full'))(
    'reports a full disk (ENOSPC) as a refused append, never as a thrown error',
    async () => {
      await using dir = tempDir('spool-');
      symlinkSync('/dev/full', join(dir.path, '0000000000000001.seg'));
      const { errors, onError } = collect();
      const spool = Spool.open({ dir: dir.path, onError });
      try {
        const r = spool.append(payload(1));
        expect(r.ok).toBe(false);
        expect(!r.ok && r.reason).toBe('write-failed');
        expect(errors).toHaveLength(1);
        const err = errors[0];
        expect(isSpoolWriteError(err) && err.errno).toBe('ENOSPC');
        expect(spool.nextSeq).toBe(1);
        expect(spool.stats()).toMatchObject({ refusedWriteFailed: 1, records: 0, bytes: 0 });
        expect(() => spool.append(payload(2))).not.toThrow();
      } finally {
        spool.close();
      }
    },
  );

  it('refuses a directory another open spool holds, and takes over a stale lock', async () => {
    await using dir = tempDir('spool-');
    const first = Spool.open({ dir: dir.path });
    let caught: unknown;
    try {
      Spool.open({ dir: dir.path });
    } catch (err) {
      caught = err;
    }
    expect(isSpoolLockedError(caught)).toBe(true);
    first.append(payload(1));
    first.close();

    writeFileSync(join(dir.path, 'LOCK'), '999999999\n'); // a pid no process has
    const second = Spool.open({ dir: dir.path });
    expect(second.peekAfter(0)?.seq).toBe(1);
    second.close();
  });
});
