import { describe, expect, it } from 'vitest';
import { formatDuration, formatSize, parseChance, parseDuration, parseSize } from './units.js';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['90s', 90_000],
    ['15m', 900_000],
    ['1h30m', 5_400_000],
    ['1m30s', 90_000],
    ['1.5s', 1500],
    ['2h', 7_200_000],
    ['0s', 0],
    ['1h1m1s1ms', 3_661_001],
  ])('reads %s as %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([['fast'], ['90'], [90], [''], ['-5s'], ['1d'], ['5 s'], ['s'], [null], [undefined]])(
    'rejects %j',
    (value) => {
      expect(parseDuration(value)).toBeUndefined();
    },
  );

  it('formats what it reads', () => {
    for (const ms of [0, 250, 90_000, 5_400_000, 3_661_001])
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    expect(formatDuration(110_000)).toBe('1m50s');
  });
});

describe('parseSize', () => {
  it.each([
    ['256Mi', 268_435_456],
    ['1Gi', 1_073_741_824],
    ['512MB', 512_000_000],
    ['20Mi', 20_971_520],
    ['4Ki', 4096],
    ['1.5Ki', 1536],
    ['100', 100],
    [4096, 4096],
    ['10B', 10],
    ['2k', 2000],
  ])('reads %j as %d bytes', (value, bytes) => {
    expect(parseSize(value)).toBe(bytes);
  });

  it.each([['lots'], ['1Zi'], [-1], [1.5], ['1 Gb x'], [true]])('rejects %j', (value) => {
    expect(parseSize(value)).toBeUndefined();
  });

  it('formats with the largest exact binary unit', () => {
    expect(formatSize(268_435_456)).toBe('256Mi');
    expect(formatSize(4096)).toBe('4Ki');
    expect(formatSize(1000)).toBe('1000');
  });
});

describe('parseChance', () => {
  it.each([
    ['1/50', 0.02],
    [0.02, 0.02],
    ['2%', 0.02],
    ['1/150', 1 / 150],
    [1, 1],
    ['3/2', 1.5],
  ])('reads %j as %d', (value, p) => {
    expect(parseChance(value)).toBeCloseTo(p, 12);
  });

  it.each([['1/0'], ['often'], [Infinity], [null]])('rejects %j', (value) => {
    expect(parseChance(value)).toBeUndefined();
  });
});
