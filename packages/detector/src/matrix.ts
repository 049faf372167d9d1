/**
 * A dense row-major matrix of float64 values: the input of the detector's models. Rows are
 * samples (one host at one time), columns are features. Helpers build one from plain rows or
 * from feature vectors and read rows as views without copying.
 *
 * @example
 * ```ts
 * const X = fromRows([
 *   [0.1, 2],
 *   [0.3, 4],
 * ]);
 * rowView(X, 1); // Float64Array [0.3, 4], sharing X.data
 * ```
 */
import { NonFiniteInputError, ShapeMismatchError } from './errors.js';

/** A dense matrix: `data[i * cols + j]` is the value of row `i`, column `j`. */
export interface Matrix {
  /** Row-major values; its length is exactly `rows * cols`. */
  readonly data: Float64Array;
  /** Number of rows (samples). */
  readonly rows: number;
  /** Number of columns (features). */
  readonly cols: number;
}

/** A zero-filled matrix of the given shape. */
export function createMatrix(rows: number, cols: number): Matrix {
  assertDimension('rows', rows);
  assertDimension('cols', cols);
  return { data: new Float64Array(rows * cols), rows, cols };
}

/**
 * Wraps existing row-major values without copying. Throws {@link ShapeMismatchError} when
 * `data.length` is not `rows * cols`.
 */
export function matrixFromData(data: Float64Array, rows: number, cols: number): Matrix {
  assertDimension('rows', rows);
  assertDimension('cols', cols);
  if (data.length !== rows * cols) {
    throw new ShapeMismatchError(
      `data has ${data.length} values, expected rows * cols = ${rows} * ${cols} = ${rows * cols}`,
    );
  }
  return { data, rows, cols };
}

/**
 * Copies rows (plain arrays or typed arrays such as the vectors of a `FeatureExtractor`) into a
 * new matrix. Every row must have the same length; `cols` is required only when `rows` is empty.
 */
export function fromRows(rows: ReadonlyArray<ArrayLike<number>>, cols?: number): Matrix {
  const first = rows[0];
  const width = cols ?? first?.length;
  if (width === undefined) {
    throw new ShapeMismatchError('fromRows needs cols when rows is empty');
  }
  assertDimension('cols', width);
  const data = new Float64Array(rows.length * width);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as ArrayLike<number>;
    if (row.length !== width) {
      throw new ShapeMismatchError(`row ${i} has ${row.length} values, expected ${width}`);
    }
    const base = i * width;
    for (let j = 0; j < width; j++) data[base + j] = row[j] as number;
  }
  return { data, rows: rows.length, cols: width };
}

/** The rows as plain arrays (a copy), for printing and JSON. */
export function toRows(m: Matrix): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < m.rows; i++) out.push(Array.from(rowView(m, i)));
  return out;
}

/** Row `i` as a view sharing `m.data` (no copy): writes through it change the matrix. */
export function rowView(m: Matrix, i: number): Float64Array {
  assertRowIndex(m, i);
  return m.data.subarray(i * m.cols, (i + 1) * m.cols);
}

/** The value at row `i`, column `j`. */
export function valueAt(m: Matrix, i: number, j: number): number {
  assertRowIndex(m, i);
  if (!Number.isInteger(j) || j < 0 || j >= m.cols) {
    throw new RangeError(`column index must be an integer in [0, ${m.cols}), got ${j}`);
  }
  return m.data[i * m.cols + j] as number;
}

/** A new matrix holding copies of the given rows, in the given order (repeats allowed). */
export function selectRows(m: Matrix, indices: ArrayLike<number>): Matrix {
  const out = new Float64Array(indices.length * m.cols);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k] as number;
    assertRowIndex(m, i);
    out.set(m.data.subarray(i * m.cols, (i + 1) * m.cols), k * m.cols);
  }
  return { data: out, rows: indices.length, cols: m.cols };
}

/**
 * Checks that `m` is well formed (`data.length === rows * cols`) and that every value is finite;
 * throws {@link ShapeMismatchError} or {@link NonFiniteInputError} naming the first bad row and
 * column. `name` is how the matrix is called in messages (default `X`).
 */
export function assertFiniteMatrix(m: Matrix, name = 'X'): void {
  if (m.data.length !== m.rows * m.cols) {
    throw new ShapeMismatchError(
      `${name}.data has ${m.data.length} values, expected rows * cols = ${m.rows} * ${m.cols}`,
    );
  }
  const data = m.data;
  for (let k = 0; k < data.length; k++) {
    const v = data[k] as number;
    // v - v is 0 for finite values and NaN for NaN and ±Infinity: one comparison per value.
    if (v - v !== 0) {
      throw new NonFiniteInputError(name, Math.floor(k / m.cols), k % m.cols, v);
    }
  }
}

function assertDimension(field: string, n: number): void {
  if (!Number.isInteger(n) || n < 0) {
    throw new ShapeMismatchError(`${field} must be a non-negative integer, got ${n}`);
  }
}

function assertRowIndex(m: Matrix, i: number): void {
  if (!Number.isInteger(i) || i < 0 || i >= m.rows) {
    throw new RangeError(`row index must be an integer in [0, ${m.rows}), got ${i}`);
  }
}
