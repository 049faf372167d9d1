/**
 * Row sinks: files that take rows one at a time and write them in chunks, so that memory is
 * bounded by the buffers, not by the dataset. CSV (RFC 4180: header line, CRLF line ends,
 * fields with a comma, a quote, CR or LF quoted, quotes doubled) and JSON Lines (one object
 * per row, exact integers, timestamps as text) append text chunks; Parquet writes row groups.
 * Files are appended to with open-append-close, so any number of them can be open at once
 * (one per host in the RAM log layout) without holding a file descriptor each.
 */
import { appendFileSync } from 'node:fs';
import { appendFile, writeFile } from 'node:fs/promises';
import { ByteWriter, ParquetWriter, type ColumnSource, type SchemaElement } from 'hyparquet-writer';
import { ExportOutputError } from '../errors.js';
import type { Cell, DatasetColumn, Row } from './dataset-columns.js';

/** File formats of an export. */
export const EXPORT_FORMATS = ['csv', 'parquet', 'jsonl'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** A file being written row by row. */
export interface RowSink {
  readonly path: string;
  /** Rows written so far (buffered ones included). */
  readonly rows: number;
  /**
   * Takes one row, cells in column order. Returns a promise when the row made buffers reach
   * their limit and they are being written out: await it before the next write.
   */
  write(row: Row): Promise<void> | undefined;
  /** Writes out what is buffered. */
  flush(): Promise<void>;
  /** Flushes and completes the file (the Parquet footer). The sink takes no rows after. */
  close(): Promise<void>;
}

/**
 * The buffer limit shared by the sinks of one export: when the bytes buffered by all of them
 * pass `maxBytes`, every sink writes out (Parquet sinks then end their row group early).
 * Byte counts are estimates: text length for CSV and JSONL, 48 bytes per cell for Parquet.
 */
export class WriteBudget {
  private used = 0;
  private readonly sinks = new Set<RowSink>();

  constructor(readonly maxBytes: number) {}

  join(sink: RowSink): void {
    this.sinks.add(sink);
  }

  leave(sink: RowSink): void {
    this.sinks.delete(sink);
  }

  /** Counts `bytes` more as buffered; true when the budget is exceeded. */
  charge(bytes: number): boolean {
    this.used += bytes;
    return this.used > this.maxBytes;
  }

  release(bytes: number): void {
    this.used -= bytes;
  }

  async flushAll(): Promise<void> {
    for (const sink of this.sinks) await sink.flush();
  }
}

// ---------------------------------------------------------------------------------------------
// text

/** ISO 8601 (`2026-11-03T10:00:00.123Z`) or the seed log form (`2026-11-03 10:00:00.123`), UTC. */
export function formatTimestamp(ns: bigint, form: 'iso' | 'log' = 'iso'): string {
  const iso = new Date(Number(ns / 1_000_000n)).toISOString();
  return form === 'iso' ? iso : iso.slice(0, 23).replace('T', ' ');
}

/** A cell as text for CSV; null (and a non-finite number) is the empty string. */
export function cellText(column: DatasetColumn, cell: Cell): string {
  if (cell === null) return '';
  if (column.type === 'timestamp' && typeof cell === 'bigint') return formatTimestamp(cell, column.timeText);
  if (typeof cell === 'number') return Number.isFinite(cell) ? String(cell) : '';
  return String(cell);
}

/** One CSV field, quoted when it holds a comma, a double quote, CR or LF (RFC 4180). */
export function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One CSV record with its CRLF line end. */
export function csvLine(columns: readonly DatasetColumn[], row: Row): string {
  let line = '';
  for (let i = 0; i < columns.length; i++) {
    if (i > 0) line += ',';
    line += csvField(cellText(columns[i]!, row[i] ?? null));
  }
  return line + '\r\n';
}

/** One JSON value: integers exactly (int64 as a number literal), timestamps as text, non-finite numbers as null. */
function jsonValue(column: DatasetColumn, cell: Cell): string {
  if (cell === null) return 'null';
  if (column.type === 'timestamp' && typeof cell === 'bigint') {
    return JSON.stringify(formatTimestamp(cell, column.timeText));
  }
  if (typeof cell === 'number') return Number.isFinite(cell) ? String(cell) : 'null';
  if (typeof cell === 'bigint') return cell.toString();
  if (typeof cell === 'boolean') return cell ? 'true' : 'false';
  return JSON.stringify(cell);
}

/** An encoder of JSON Lines records for `columns`. */
export function jsonlEncoder(columns: readonly DatasetColumn[]): (row: Row) => string {
  const keys = columns.map((c, i) => `${i === 0 ? '{' : ','}${JSON.stringify(c.name)}:`);
  return (row) => {
    let line = '';
    for (let i = 0; i < columns.length; i++) line += keys[i]! + jsonValue(columns[i]!, row[i] ?? null);
    return (columns.length === 0 ? '{' : '') + line + '}\n';
  };
}

const TEXT_CHUNK_CHARS = 256 * 1024;

class TextRowSink implements RowSink {
  private parts: string[] = [];
  private buffered = 0;
  private count = 0;

  constructor(
    readonly path: string,
    private readonly encode: (row: Row) => string,
    private readonly budget: WriteBudget,
  ) {}

  get rows(): number {
    return this.count;
  }

  write(row: Row): Promise<void> | undefined {
    const text = this.encode(row);
    this.parts.push(text);
    this.buffered += text.length;
    this.count++;
    const over = this.budget.charge(text.length);
    if (this.buffered >= TEXT_CHUNK_CHARS) return this.flush();
    return over ? this.budget.flushAll() : undefined;
  }

  async flush(): Promise<void> {
    if (this.parts.length === 0) return;
    const text = this.parts.join('');
    this.parts = [];
    this.budget.release(this.buffered);
    this.buffered = 0;
    try {
      await appendFile(this.path, text);
    } catch (err) {
      throw new ExportOutputError(this.path, { cause: err });
    }
  }

  async close(): Promise<void> {
    await this.flush();
    this.budget.leave(this);
  }
}

// ---------------------------------------------------------------------------------------------
// parquet

function schemaElement(column: DatasetColumn): SchemaElement {
  const name = column.name;
  switch (column.type) {
    case 'string':
      return {
        name,
        type: 'BYTE_ARRAY',
        converted_type: 'UTF8',
        logical_type: { type: 'STRING' },
        repetition_type: 'OPTIONAL',
      };
    case 'double':
      return { name, type: 'DOUBLE', repetition_type: 'OPTIONAL' };
    case 'int64':
      return { name, type: 'INT64', repetition_type: 'OPTIONAL' };
    case 'bool':
      return { name, type: 'BOOLEAN', repetition_type: 'OPTIONAL' };
    case 'timestamp':
      return {
        name,
        type: 'INT64',
        converted_type: 'TIMESTAMP_MILLIS',
        logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' },
        repetition_type: 'OPTIONAL',
      };
  }
}

function parquetCell(column: DatasetColumn, cell: Cell): Cell {
  if (cell === null) return null;
  if (column.type === 'timestamp') return typeof cell === 'bigint' ? cell / 1_000_000n : null;
  if (typeof cell === 'number' && !Number.isFinite(cell)) return null;
  return cell;
}

const FILE_CHUNK_BYTES = 1024 * 1024;
const PARQUET_CELL_BYTES = 48;

/** A Parquet byte writer that appends to its file in chunks and after every row group. */
class AppendFileWriter extends ByteWriter {
  constructor(readonly path: string) {
    super(64 * 1024);
  }

  override ensure(size: number): void {
    if (this.index > FILE_CHUNK_BYTES) this.flush();
    super.ensure(size);
  }

  flush(): void {
    if (this.index === 0) return;
    try {
      appendFileSync(this.path, new Uint8Array(this.buffer, 0, this.index));
    } catch (err) {
      throw new ExportOutputError(this.path, { cause: err });
    }
    this.index = 0;
  }

  override finish(): void {
    this.flush();
  }
}

class ParquetRowSink implements RowSink {
  private readonly writer: ParquetWriter;
  private data: Cell[][];
  private buffered = 0;
  private count = 0;
  private readonly rowBytes: number;

  constructor(
    readonly path: string,
    private readonly columns: readonly DatasetColumn[],
    private readonly rowGroupRows: number,
    private readonly budget: WriteBudget,
  ) {
    const schema: SchemaElement[] = [
      { name: 'root', num_children: columns.length },
      ...columns.map(schemaElement),
    ];
    this.writer = new ParquetWriter({
      writer: new AppendFileWriter(path),
      schema,
      createdBy: 'faultline export',
    });
    this.data = columns.map(() => []);
    // Measured: a buffered cell costs about 48 bytes of heap by the time its row group is encoded.
    this.rowBytes = PARQUET_CELL_BYTES * columns.length;
  }

  get rows(): number {
    return this.count;
  }

  write(row: Row): Promise<void> | undefined {
    for (let i = 0; i < this.columns.length; i++)
      this.data[i]!.push(parquetCell(this.columns[i]!, row[i] ?? null));
    this.buffered++;
    this.count++;
    const over = this.budget.charge(this.rowBytes);
    if (this.buffered >= this.rowGroupRows) this.writeGroup();
    return over ? this.budget.flushAll() : undefined;
  }

  flush(): Promise<void> {
    this.writeGroup();
    return Promise.resolve();
  }

  async close(): Promise<void> {
    this.writeGroup();
    this.budget.leave(this);
    // The writer appends synchronously, so finish() returns no promise.
    await this.writer.finish();
  }

  private writeGroup(): void {
    if (this.buffered === 0) return;
    const columnData: ColumnSource[] = this.columns.map((c, i) => ({
      name: c.name,
      data: this.data[i]! as ColumnSource['data'],
    }));
    void this.writer.write({ columnData, rowGroupSize: this.buffered });
    this.budget.release(this.buffered * this.rowBytes);
    this.buffered = 0;
    this.data = this.columns.map(() => []);
  }
}

/** Sizes of a sink's buffers. */
export interface RowSinkLimits {
  /** Rows per Parquet row group. */
  readonly parquetRowGroupRows: number;
  /** The budget shared by the sinks open at once. */
  readonly budget: WriteBudget;
}

/**
 * Creates (or truncates) `path` and returns a sink writing `columns` in `format`; a CSV file
 * starts with its header line.
 */
export async function openRowSink(
  format: ExportFormat,
  path: string,
  columns: readonly DatasetColumn[],
  limits: RowSinkLimits,
): Promise<RowSink> {
  try {
    await writeFile(path, format === 'csv' ? csvHeader(columns) : '');
  } catch (err) {
    throw new ExportOutputError(path, { cause: err });
  }
  let sink: RowSink;
  switch (format) {
    case 'csv':
      sink = new TextRowSink(path, (row) => csvLine(columns, row), limits.budget);
      break;
    case 'jsonl':
      sink = new TextRowSink(path, jsonlEncoder(columns), limits.budget);
      break;
    case 'parquet':
      sink = new ParquetRowSink(path, columns, limits.parquetRowGroupRows, limits.budget);
      break;
  }
  limits.budget.join(sink);
  return sink;
}

function csvHeader(columns: readonly DatasetColumn[]): string {
  return columns.map((c) => csvField(c.name)).join(',') + '\r\n';
}
