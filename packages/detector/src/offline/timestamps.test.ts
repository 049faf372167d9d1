import { describe, expect, it } from 'vitest';
import { epochToMs, findTimeColumn, parseDecimal, parseIsoTimestamp, parseTimestamp } from './timestamps.js';

describe('timestamps', () => {
  it('reads ISO date-times without a zone as UTC, and honours Z and offsets', () => {
    expect(parseTimestamp('2025-06-01 00:40:00')).toBe(Date.UTC(2025, 5, 1, 0, 40));
    expect(parseTimestamp('2014-04-10 07:15:00.000000')).toBe(Date.UTC(2014, 3, 10, 7, 15));
    expect(parseTimestamp('2025-06-01T00:40:00.123Z')).toBe(Date.UTC(2025, 5, 1, 0, 40, 0, 123));
    expect(parseTimestamp('2025-06-01T02:40:00+02:00')).toBe(Date.UTC(2025, 5, 1, 0, 40));
    expect(parseTimestamp('2025-06-01T00:40:00-0130')).toBe(Date.UTC(2025, 5, 1, 2, 10));
    expect(parseTimestamp('2025-06-01')).toBe(Date.UTC(2025, 5, 1));
  });

  it('tells epoch units by size: seconds, ms, µs, ns', () => {
    expect(parseTimestamp('1527669447')).toBe(1527669447000);
    expect(parseTimestamp('1527669447.5')).toBe(1527669447500);
    expect(parseTimestamp('1527669447123')).toBe(1527669447123);
    expect(epochToMs(1527669447123456)).toBe(1527669447123.456);
    expect(epochToMs(1527669447123456000)).toBe(1527669447123.456);
  });

  it('refuses what is not a timestamp instead of guessing', () => {
    for (const bad of [
      'yesterday',
      '2025-13-01',
      '2025-02-30 00:00:00',
      '2025-06-01 24:00:00',
      '06/01/2025',
      '',
    ]) {
      expect(parseTimestamp(bad), bad).toBeUndefined();
    }
    expect(parseIsoTimestamp('1527669447')).toBeUndefined();
  });

  it('reads decimals strictly', () => {
    expect(parseDecimal(' 12.5 ')).toBe(12.5);
    expect(parseDecimal('1e6')).toBe(1e6);
    expect(parseDecimal('-.5')).toBe(-0.5);
    for (const bad of ['12,5', '0x10', 'Infinity', 'NaN', '', '1.2.3'])
      expect(parseDecimal(bad), bad).toBeUndefined();
  });

  it('finds the time column by name, preferring timestamp over time over date', () => {
    expect(findTimeColumn(['value', 'Time'])).toBe(1);
    expect(findTimeColumn(['date', 'ts', 'x'])).toBe(1);
    expect(findTimeColumn(['date', 'TIMESTAMP'])).toBe(1);
    expect(findTimeColumn(['value', 'when'])).toBeUndefined();
  });
});
