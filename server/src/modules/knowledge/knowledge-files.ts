// Knowledge-base files: reading XLSX, CSV and JSON Lines into rows, and writing them back.
//
// XLSX / CSV columns (first row: headers, Chinese or English, any order):
//   标准问题 | question          required
//   相似问题 | similar           optional; several in one cell, separated by a newline or "|" ("｜")
//   答案     | answer            required
//   分类     | category          optional; a path, "售后/退货"
//   外部ID   | id                optional; the entry's external key
// CSV: comma, semicolon or tab separated (from the header line), RFC 4180 quoting; UTF-8 (with
// or without BOM), UTF-16 with BOM, or GBK/GB18030 (detected: bytes that are not UTF-8).
// JSON Lines: one object a line, {"id","question","answer"?,"category"?,"similar"?:[…]}.
import type ExcelJS from 'exceljs';

/** exceljs is large and pulls in helpers with process hooks: loaded only when a workbook is read or written. */
const loadExcel = async () => (await import('exceljs')).default;

export type FileFormat = 'xlsx' | 'csv' | 'jsonl';

/** One row of a file, as written (not yet validated); `row` is what a person finds in the file. */
export interface FileRow {
  row: number;
  question: string;
  similar: string[];
  answer: string | null;
  category: string | null;
  externalId: string | null;
}

export interface RowProblem {
  /** 0: the file as a whole (encoding, headers). */
  row: number;
  field: string;
  message: string;
}

export interface ParsedFile {
  rows: FileRow[];
  problems: RowProblem[];
  encoding: string | null;
}

export const MAX_IMPORT_ROWS = 50_000;

const HEADERS: Record<keyof Omit<FileRow, 'row'>, string[]> = {
  question: ['标准问题', '标准问', '问题', 'question', 'standard question', 'standard_question'],
  similar: ['相似问题', '相似问法', '相似问', 'similar', 'similar questions', 'similar_questions'],
  answer: ['答案', '回答', 'answer'],
  category: ['分类', '类别', 'category'],
  externalId: ['外部id', '编号', 'id', 'external id', 'external_id', 'externalid'],
};

/** The headers written by the exporter. */
export const EXPORT_HEADERS = ['标准问题', '相似问题', '答案', '分类', '外部ID'] as const;

export const splitSimilar = (cell: string) =>
  cell
    .split(/\r\n|\r|\n|[|｜]/u)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);

/** Decodes a CSV file's bytes: BOMs first, then UTF-8, then GB18030 (a superset of GBK). */
export function decodeText(bytes: Uint8Array): { text: string; encoding: string } | null {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    return { text: new TextDecoder('utf-8').decode(bytes.subarray(3)), encoding: 'utf-8' };
  }
  if (bytes[0] === 0xff && bytes[1] === 0xfe) {
    return { text: new TextDecoder('utf-16le').decode(bytes.subarray(2)), encoding: 'utf-16le' };
  }
  if (bytes[0] === 0xfe && bytes[1] === 0xff) {
    return { text: new TextDecoder('utf-16be').decode(bytes.subarray(2)), encoding: 'utf-16be' };
  }
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), encoding: 'utf-8' };
  } catch {
    // Excel on a Chinese Windows saves "CSV" in the ANSI code page: GBK.
  }
  try {
    return { text: new TextDecoder('gb18030', { fatal: true }).decode(bytes), encoding: 'gbk' };
  } catch {
    return null;
  }
}

/** RFC 4180 records: quoted fields may hold the delimiter, quotes ("") and line breaks. */
export function parseCsv(text: string, delimiter: string): { line: number; cells: string[] }[] {
  const records: { line: number; cells: string[] }[] = [];
  let cells: string[] = [];
  let cell = '';
  let quoted = false;
  let line = 1;
  let startLine = 1;
  let i = 0;
  const end = () => {
    cells.push(cell);
    cell = '';
  };
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else {
        if (c === '\n') line++;
        cell += c;
      }
      i++;
      continue;
    }
    if (c === '"' && cell.length === 0) quoted = true;
    else if (c === delimiter) end();
    else if (c === '\r' || c === '\n') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      end();
      if (cells.some((x) => x.length > 0)) records.push({ line: startLine, cells });
      cells = [];
      line++;
      startLine = line;
    } else cell += c;
    i++;
  }
  if (cell.length > 0 || cells.length > 0) {
    end();
    if (cells.some((x) => x.length > 0)) records.push({ line: startLine, cells });
  }
  return records;
}

function columnsOf(headers: string[], problems: RowProblem[]) {
  const norm = headers.map((h) => h.trim().toLowerCase());
  const index: Partial<Record<keyof typeof HEADERS, number>> = {};
  for (const [key, names] of Object.entries(HEADERS) as [keyof typeof HEADERS, string[]][]) {
    const at = norm.findIndex((h) => names.includes(h));
    if (at >= 0) index[key] = at;
  }
  for (const required of ['question', 'answer'] as const) {
    if (index[required] === undefined) {
      problems.push({
        row: 1,
        field: required,
        message: `missing column "${HEADERS[required][0]}" (or "${required}"); the headers are: ${headers.join(', ') || '(none)'}`,
      });
    }
  }
  return index;
}

function rowsFromTable(records: { line: number; cells: string[] }[], problems: RowProblem[]): FileRow[] {
  const [header, ...body] = records;
  if (!header) {
    problems.push({ row: 0, field: 'file', message: 'the file is empty' });
    return [];
  }
  const col = columnsOf(header.cells, problems);
  if (problems.length > 0) return [];
  if (body.length > MAX_IMPORT_ROWS) {
    problems.push({ row: 0, field: 'file', message: `more than ${MAX_IMPORT_ROWS} rows; split the file` });
    return [];
  }
  // The exporter writes formula-like text with a leading apostrophe (see `inert`): undone here.
  const at = (cells: string[], i: number | undefined) =>
    i === undefined ? null : (cells[i] ?? '').trim().replace(/^'(?=[=+\-@])/u, '');
  return body.map(({ line, cells }) => ({
    row: line,
    question: at(cells, col.question) ?? '',
    similar: splitSimilar(at(cells, col.similar) ?? ''),
    answer: at(cells, col.answer),
    category: at(cells, col.category) || null,
    externalId: at(cells, col.externalId) || null,
  }));
}

function parseCsvFile(bytes: Uint8Array): ParsedFile {
  const problems: RowProblem[] = [];
  const decoded = decodeText(bytes);
  if (!decoded) {
    return {
      rows: [],
      encoding: null,
      problems: [
        { row: 0, field: 'encoding', message: 'the file is neither UTF-8 nor GBK; save it as "CSV UTF-8"' },
      ],
    };
  }
  const firstLine = decoded.text.slice(0, decoded.text.search(/\r|\n|$/u));
  const delimiter = [',', '\t', ';'].reduce((best, d) =>
    firstLine.split(d).length > firstLine.split(best).length ? d : best,
  );
  const rows = rowsFromTable(parseCsv(decoded.text, delimiter), problems);
  return { rows, problems, encoding: decoded.encoding };
}

function cellText(cell: ExcelJS.Cell): string {
  const v = cell.value;
  if (v === null || v === undefined) return '';
  if (typeof v === 'object' && 'richText' in v) return v.richText.map((r) => r.text).join('');
  if (typeof v === 'object' && 'text' in v && typeof v.text === 'string') return v.text; // hyperlink
  if (typeof v === 'object' && 'result' in v) {
    // A formula: its cached result, as text.
    const r = v.result;
    return typeof r === 'string' || typeof r === 'number' || typeof r === 'boolean' ? String(r) : '';
  }
  return cell.text;
}

async function parseXlsxFile(bytes: Uint8Array): Promise<ParsedFile> {
  const problems: RowProblem[] = [];
  const workbook = new (await loadExcel()).Workbook();
  try {
    await workbook.xlsx.load(bytes as unknown as ArrayBuffer);
  } catch {
    return {
      rows: [],
      encoding: null,
      problems: [{ row: 0, field: 'file', message: 'not an XLSX workbook' }],
    };
  }
  const sheet = workbook.worksheets[0];
  if (!sheet)
    return { rows: [], encoding: null, problems: [{ row: 0, field: 'file', message: 'no worksheet' }] };
  if (sheet.rowCount > MAX_IMPORT_ROWS + 1) {
    return {
      rows: [],
      encoding: null,
      problems: [{ row: 0, field: 'file', message: `more than ${MAX_IMPORT_ROWS} rows; split the file` }],
    };
  }
  const records: { line: number; cells: string[] }[] = [];
  sheet.eachRow({ includeEmpty: false }, (row, line) => {
    const cells: string[] = [];
    for (let c = 1; c <= row.cellCount; c++) cells.push(cellText(row.getCell(c)));
    if (cells.some((x) => x.trim().length > 0)) records.push({ line, cells });
  });
  return { rows: rowsFromTable(records, problems), problems, encoding: null };
}

function parseJsonLines(bytes: Uint8Array): ParsedFile {
  const problems: RowProblem[] = [];
  const decoded = decodeText(bytes);
  if (!decoded || decoded.encoding === 'gbk') {
    return {
      rows: [],
      encoding: null,
      problems: [{ row: 0, field: 'encoding', message: 'JSON Lines must be UTF-8' }],
    };
  }
  const rows: FileRow[] = [];
  const lines = decoded.text.split(/\r?\n/u);
  if (lines.length > MAX_IMPORT_ROWS + 1) {
    return {
      rows: [],
      encoding: 'utf-8',
      problems: [{ row: 0, field: 'file', message: `more than ${MAX_IMPORT_ROWS} lines` }],
    };
  }
  lines.forEach((text, i) => {
    const row = i + 1;
    if (text.trim() === '') return;
    let o: unknown;
    try {
      o = JSON.parse(text);
    } catch {
      problems.push({ row, field: 'line', message: 'not a JSON object' });
      return;
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) {
      problems.push({ row, field: 'line', message: 'not a JSON object' });
      return;
    }
    const r = o as Record<string, unknown>;
    const str = (field: string, v: unknown): string | null => {
      if (v === undefined || v === null) return null;
      if (typeof v === 'string') return v;
      if (field === 'id' && typeof v === 'number') return String(v);
      problems.push({ row, field, message: 'must be a string' });
      return null;
    };
    if (typeof r.question !== 'string') {
      problems.push({ row, field: 'question', message: 'is required (a string)' });
      return;
    }
    let similar: string[] = [];
    if (r.similar !== undefined && r.similar !== null) {
      if (!Array.isArray(r.similar) || r.similar.some((s) => typeof s !== 'string')) {
        problems.push({ row, field: 'similar', message: 'must be a list of strings' });
        return;
      }
      similar = r.similar as string[];
    }
    rows.push({
      row,
      question: r.question,
      similar,
      answer: str('answer', r.answer),
      category: str('category', r.category),
      externalId: str('id', r.id),
    });
  });
  return { rows, problems, encoding: 'utf-8' };
}

export async function parseFile(format: FileFormat, bytes: Uint8Array): Promise<ParsedFile> {
  if (format === 'xlsx') return parseXlsxFile(bytes);
  if (format === 'csv') return parseCsvFile(bytes);
  return parseJsonLines(bytes);
}

/** The format a file name suggests. */
export function formatOf(fileName: string): FileFormat | null {
  const ext = /\.([a-z]+)$/iu.exec(fileName)?.[1]?.toLowerCase();
  if (ext === 'xlsx') return 'xlsx';
  if (ext === 'csv' || ext === 'txt') return 'csv';
  if (ext === 'jsonl' || ext === 'ndjson') return 'jsonl';
  return null;
}

export interface ExportRow {
  externalId: string | null;
  question: string;
  similar: string[];
  answer: string;
  categoryPath: string;
}

const csvCell = (s: string) => (/[",\r\n]/u.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
/** A cell that a spreadsheet would run as a formula is written with a leading apostrophe. */
const inert = (s: string) => (/^[=+\-@\t\r]/u.test(s) ? `'${s}` : s);

export async function writeFile(format: FileFormat, rows: ExportRow[]): Promise<Buffer> {
  if (format === 'jsonl') {
    const lines = rows.map((r) =>
      JSON.stringify({
        ...(r.externalId ? { id: r.externalId } : {}),
        question: r.question,
        answer: r.answer,
        ...(r.categoryPath ? { category: r.categoryPath } : {}),
        similar: r.similar,
      }),
    );
    return Buffer.from(lines.join('\n') + (lines.length ? '\n' : ''), 'utf8');
  }
  const table = rows.map((r) => [
    r.question,
    r.similar.join('\n'),
    r.answer,
    r.categoryPath,
    r.externalId ?? '',
  ]);
  if (format === 'csv') {
    const text = [EXPORT_HEADERS as readonly string[], ...table]
      .map((cells) => cells.map((c) => csvCell(inert(c))).join(','))
      .join('\r\n');
    // The BOM makes Excel read it as UTF-8.
    return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text + '\r\n', 'utf8')]);
  }
  const workbook = new (await loadExcel()).Workbook();
  const sheet = workbook.addWorksheet('FAQ');
  sheet.columns = [
    { header: EXPORT_HEADERS[0], width: 40 },
    { header: EXPORT_HEADERS[1], width: 40 },
    { header: EXPORT_HEADERS[2], width: 60 },
    { header: EXPORT_HEADERS[3], width: 20 },
    { header: EXPORT_HEADERS[4], width: 16 },
  ];
  // Strings are written as strings (never formulas), so no cell runs anything when opened.
  for (const cells of table) sheet.addRow(cells);
  sheet.getColumn(2).alignment = { wrapText: true, vertical: 'top' };
  sheet.getColumn(3).alignment = { wrapText: true, vertical: 'top' };
  return Buffer.from(await workbook.xlsx.writeBuffer());
}
