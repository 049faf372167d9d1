import { stringify } from 'yaml';

/** The `--output` formats every list and status command takes. */
export const OUTPUT_FORMATS = ['table', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export interface Column<T> {
  header: string;
  value(row: T): string;
}

/** Renders rows as an aligned plain-text table with a header line. */
export function renderTable<T>(rows: T[], columns: Column<T>[]): string {
  const cells = rows.map((r) => columns.map((c) => c.value(r)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: string[]): string =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header.toUpperCase())), ...cells.map(line)].join('\n') + '\n';
}

/** JSON.stringify replacer that writes bigints (ns timestamps) as decimal strings. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/** Renders `data` (json/yaml) or `rows` (table) in the requested format. */
export function render<T>(format: OutputFormat, data: unknown, rows: T[], columns: Column<T>[]): string {
  switch (format) {
    case 'json':
      return JSON.stringify(data, jsonReplacer, 2) + '\n';
    case 'yaml':
      return stringify(JSON.parse(JSON.stringify(data, jsonReplacer)));
    case 'table':
      return renderTable(rows, columns);
  }
}
