/**
 * Workload process of the `io` kind: writes `writeBytesPerSecond` to a scratch file, cycling
 * through its `fileSizeBytes`, and reads `readBytesPerSecond` back from it.
 *
 * Both go through O_DIRECT where the filesystem allows it, so the bytes reach the device at
 * the requested rate instead of the page cache: a buffered write is counted in write_bytes
 * when it dirties a page cache folio, and ext4's large folios make a write that does not
 * cover whole folios count up to a third more than it wrote, while a buffered read of a
 * recently written file reaches no device at all. `fsync` adds a flush after each chunk.
 * Without O_DIRECT (the process says so in a note) it falls back to buffered I/O. The file
 * is filled before `ready` when there are reads, so they find real blocks. The runner
 * removes the file.
 */
import { closeSync, constants, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import type { IoChildConfig } from './child-protocol.js';
import { runWorkloadChild, sleep } from './child-runtime.js';
import { RatePacer } from './pacing.js';

/** O_DIRECT wants offsets, lengths and buffer addresses aligned to the device's block. */
const ALIGN = 4096;
const MIN_CHUNK_BYTES = 64 * 1024;
const MAX_CHUNK_BYTES = 4 * 1024 * 1024;
const FILL_CHUNK_BYTES = 4 * 1024 * 1024;

const blockFloor = (bytes: number): number => Math.floor(bytes / ALIGN) * ALIGN;
const mibps = (bytesPerSecond: number): string => `${(bytesPerSecond / 1048576).toFixed(1)} MiB/s`;

function chunkBytes(bytesPerSecond: number, tickMs: number): number {
  const perTick = (bytesPerSecond * tickMs) / 1000;
  return Math.ceil(Math.min(MAX_CHUNK_BYTES, Math.max(MIN_CHUNK_BYTES, perTick)) / ALIGN) * ALIGN;
}

/** A file descriptor and a buffer whose `offset` is block-aligned (when `direct`). */
interface Channel {
  fd: number;
  buffer: Buffer;
  offset: number;
  direct: boolean;
}

/**
 * Opens `path` with O_DIRECT when the filesystem allows it. JavaScript cannot ask a buffer
 * for its address, so the aligned offset into it is found by trying one block at each
 * 16-byte step (EINVAL = misaligned).
 */
function openDirect(path: string, flags: number, length: number, write: boolean): Channel {
  const buffer = Buffer.allocUnsafeSlow(length + ALIGN);
  let fd: number | undefined;
  try {
    fd = openSync(path, flags | constants.O_DIRECT);
    for (let offset = 0; offset < ALIGN; offset += 16) {
      try {
        if (write) writeSync(fd, buffer, offset, ALIGN, 0);
        else readSync(fd, buffer, offset, ALIGN, 0);
        return { fd, buffer, offset, direct: true };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
      }
    }
    closeSync(fd);
  } catch {
    if (fd !== undefined) closeSync(fd);
  }
  return { fd: openSync(path, flags), buffer, offset: 0, direct: false };
}

runWorkloadChild<IoChildConfig>((config, channel) => {
  const fileBytes = blockFloor(config.fileSizeBytes);
  const writeChunk = Math.min(fileBytes, chunkBytes(config.writeBytesPerSecond, config.tickMs));
  const readChunk = Math.min(fileBytes, chunkBytes(config.readBytesPerSecond, config.tickMs));

  // Creates (and truncates) the file, so that the O_DIRECT opens below find it.
  closeSync(openSync(config.path, 'w'));
  const writer = openDirect(config.path, constants.O_WRONLY, Math.max(writeChunk, FILL_CHUNK_BYTES), true);
  const data = writer.buffer.subarray(writer.offset);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 7) & 0xff;

  let reader: Channel | undefined;
  if (config.readBytesPerSecond > 0) {
    for (let offset = 0; offset < fileBytes; offset += FILL_CHUNK_BYTES) {
      writeSync(writer.fd, data, 0, Math.min(FILL_CHUNK_BYTES, fileBytes - offset), offset);
    }
    fsyncSync(writer.fd);
    reader = openDirect(config.path, constants.O_RDONLY, readChunk, false);
  }
  if (!writer.direct || (reader && !reader.direct)) {
    channel.note(
      `O_DIRECT is not available on ${config.path}: I/O goes through the page cache, ` +
        'so the device sees writes later and reads maybe never',
    );
  }

  return () => {
    const start = performance.now();
    const writePacer = new RatePacer(config.writeBytesPerSecond, start);
    const readPacer = new RatePacer(config.readBytesPerSecond, start);
    let writeOffset = 0;
    let readOffset = 0;
    let behindNoted = false;
    const run = async (): Promise<void> => {
      for (let tick = 1; ; tick++) {
        // Whole blocks only (O_DIRECT needs them); the remainder waits for the next tick.
        const now = performance.now();
        for (let left = blockFloor(writePacer.due(now)); left > 0;) {
          const length = Math.min(left, writeChunk, fileBytes - writeOffset);
          writeSync(writer.fd, data, 0, length, writeOffset);
          if (config.fsync) fsyncSync(writer.fd);
          writePacer.done(length);
          left -= length;
          writeOffset = (writeOffset + length) % fileBytes;
        }
        if (reader) {
          for (let left = blockFloor(readPacer.due(now)); left > 0;) {
            const length = Math.min(left, readChunk, fileBytes - readOffset);
            readSync(reader.fd, reader.buffer, reader.offset, length, readOffset);
            readPacer.done(length);
            left -= length;
            readOffset = (readOffset + length) % fileBytes;
          }
        }
        if (!behindNoted && (writePacer.forgivenBytes > 0 || readPacer.forgivenBytes > 0)) {
          behindNoted = true;
          channel.note(
            `fell more than 1 s behind (requested write ${mibps(config.writeBytesPerSecond)}, ` +
              `read ${mibps(config.readBytesPerSecond)}): the device did not keep up`,
          );
        }
        await sleep(Math.max(0, start + tick * config.tickMs - performance.now()));
      }
    };
    run().catch((err: unknown) => channel.fail(`io failed on ${config.path}: ${(err as Error).message}`));
  };
});
