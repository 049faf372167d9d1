/**
 * CRC-32 as used by zlib, gzip and PNG (IEEE 802.3, reflected polynomial 0xEDB88320,
 * initial value and final XOR 0xFFFFFFFF). The check value of the ASCII bytes
 * "123456789" is 0xCBF43926.
 */

const TABLE = buildTable();

function buildTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/**
 * The CRC-32 of `bytes[start, end)`, continued from `previous` (the CRC of the bytes that
 * came before; 0 to start), so `crc32(b, crc32(a))` equals the CRC of `a` followed by `b`.
 * Returns an unsigned 32-bit integer.
 */
export function crc32(bytes: Uint8Array, previous = 0, start = 0, end = bytes.length): number {
  let c = (previous ^ 0xffffffff) >>> 0;
  for (let i = start; i < end; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
