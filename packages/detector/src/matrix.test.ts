import { describe, expect, it } from 'vitest';

import { isNonFiniteInputError, isShapeMismatchError } from './errors.js';
import {
  assertFiniteMatrix,
  createMatrix,
  fromRows,
  matrixFromData,
  rowView,
  selectRows,
  toRows,
  valueAt,
} from './matrix.js';

describe('Matrix helpers', () => {
  it('builds a row-major matrix from plain and typed rows', () => {
    const m = fromRows([[1, 2, 3], new Float64Array([4, 5, 6])]);
    expect(m.rows).toBe(2);
    expect(m.cols).toBe(3);
    expect(Array.from(m.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(valueAt(m, 1, 2)).toBe(6);
    expect(toRows(m)).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(fromRows([], 4)).toMatchObject({ rows: 0, cols: 4 });
    expect(createMatrix(2, 2).data).toEqual(new Float64Array(4));
  });

  it('reads rows as views that share the data', () => {
    const m = fromRows([
      [1, 2],
      [3, 4],
    ]);
    const row = rowView(m, 1);
    row[0] = 30;
    expect(m.data[2]).toBe(30);
    expect(() => rowView(m, 2)).toThrow('row index must be an integer in [0, 2), got 2');
  });

  it('copies selected rows in order, repeats allowed', () => {
    const m = fromRows([[1], [2], [3]]);
    expect(toRows(selectRows(m, [2, 0, 2]))).toEqual([[3], [1], [3]]);
  });

  it('rejects ragged rows and data of the wrong length', () => {
    let caught: unknown;
    try {
      fromRows([[1, 2], [3]]);
    } catch (err) {
      caught = err;
    }
    expect(isShapeMismatchError(caught)).toBe(true);
    expect((caught as Error).message).toBe('row 1 has 1 values, expected 2');
    expect(() => fromRows([])).toThrow('fromRows needs cols when rows is empty');
    expect(() => matrixFromData(new Float64Array(5), 2, 3)).toThrow(
      'data has 5 values, expected rows * cols = 2 * 3 = 6',
    );
  });

  it('names the row and column of the first non-finite value', () => {
    const m = fromRows([
      [1, 2],
      [3, -Infinity],
    ]);
    let caught: unknown;
    try {
      assertFiniteMatrix(m, 'train');
    } catch (err) {
      caught = err;
    }
    expect(isNonFiniteInputError(caught)).toBe(true);
    expect(caught).toMatchObject({ row: 1, column: 1, value: -Infinity });
    expect((caught as Error).message).toBe(
      'train has -Infinity at row 1, column 1: only finite values are accepted',
    );
    expect(() => assertFiniteMatrix(fromRows([[0, 1e308]]))).not.toThrow();
  });
});
