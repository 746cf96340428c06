/**
 * Reading export files record by record: CSV (csv-parse; quoting, BOM, CRLF), NDJSON (line by line)
 * and JSON (an array, at the root or at a path). CSV and NDJSON stream, so a file larger than memory
 * imports; a JSON document is parsed whole (JSON has no record boundaries to stream on).
 *
 * Every record carries its origin as `file:line` (the line where the record starts, counting from 1)
 * so a rejected record can be found in the export. A record that cannot be read (wrong number of CSV
 * fields, an NDJSON line that is not JSON) is a row error, reported and skipped; what follows is still
 * read. A CSV syntax error that loses the record boundaries (an unclosed quote) ends the file with
 * an error saying from which line nothing was read: nothing is dropped silently.
 */
import { createReadStream, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import { parse as parseCsv } from 'csv-parse';
import { safeJsonParse } from '../../core/json-limits.js';
import { MappingError } from '../types.js';
import type { RecordMapping, RecordSet } from './model.js';

export type RecordData = Record<string, unknown>;

/** One record read from a file, or why a stretch of the file could not be read. */
export type Row =
  | { set: string; source: string; record: RecordData; input: string }
  | { set: string; source: string; error: MappingError; input: string };

/** The record set whose file patterns match this file's name (exactly one must). */
export function setForFile(mapping: RecordMapping, file: string): RecordSet {
  const name = basename(file);
  const matches = [...mapping.sets.values()].filter((s) => s.filePatterns.some((p) => p.test(name)));
  if (matches.length === 1) return matches[0]!;
  const known = [...mapping.sets.values()].map((s) => `${s.name}: ${s.files.join(', ')}`).join('; ');
  throw new MappingError('unprocessable', matches.length
    ? `${name} matches several record sets of mapping ${mapping.name} (${matches.map((s) => s.name).join(', ')}); make their file patterns distinct`
    : `${name} matches no record set of mapping ${mapping.name} (${known})`);
}

/** Records of a file with the errors in place, in file order. */
export async function* readRows(file: string, mapping: RecordMapping): AsyncGenerator<Row> {
  const set = setForFile(mapping, file);
  const name = basename(file);
  switch (set.format.type) {
    case 'csv': yield* readCsv(file, name, set); break;
    case 'ndjson': yield* readNdjson(file, name, set); break;
    case 'json': yield* readJson(file, name, set); break;
  }
}

/**
 * The records of a file, streaming. Throws the first row error: use readRows (or mapFile) to get row
 * errors in place and keep reading.
 */
export async function* readRecords(
  file: string,
  mapping: RecordMapping,
): AsyncIterable<{ set: string; source: string; record: Record<string, unknown> }> {
  for await (const row of readRows(file, mapping)) {
    if ('error' in row) throw row.error;
    yield { set: row.set, source: row.source, record: row.record };
  }
}

const rowError = (set: RecordSet, source: string, code: string, message: string, input = ''): Row => ({
  set: set.name, source, input,
  error: new MappingError('content', `${source}: ${message}`, [{ severity: 'error', code, message, location: source }]),
});

/** Counts newline bytes as chunks stream by, to turn csv-parse's byte offsets into line numbers. */
class LineCounter {
  private offset = 0;
  private pending: number[] = [];
  private head = 0;
  private counted = 0;

  feed(chunk: Buffer): void {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) this.pending.push(this.offset + i);
    this.offset += chunk.length;
  }

  /** Newlines strictly before byte `pos`; positions must be asked in increasing order. */
  before(pos: number): number {
    while (this.head < this.pending.length && this.pending[this.head]! < pos) { this.head++; this.counted++; }
    if (this.head > 4096) { this.pending = this.pending.slice(this.head); this.head = 0; }
    return this.counted;
  }
}

async function* readCsv(file: string, name: string, set: RecordSet): AsyncGenerator<Row> {
  const format = set.format;
  if (format.type !== 'csv') return;
  const lines = new LineCounter();
  const parsed: Array<{ fields: string[]; line: number }> = [];
  let failure: Error | undefined;
  const parser = parseCsv({
    bom: true,
    delimiter: format.delimiter,
    quote: format.quote,
    relax_column_count: true,
    skip_empty_lines: true,
    encoding: format.encoding,
    // Records are taken here, synchronously, so none parsed before a syntax error is lost in stream buffers.
    on_record: (fields: string[], ctx: { bytes: number }) => {
      const endLine = lines.before(ctx.bytes - 1) + 1;
      const inner = fields.reduce((n, f) => n + (f.match(/\n/g)?.length ?? 0), 0);
      parsed.push({ fields, line: endLine - inner });
      return null;
    },
  });
  parser.on('error', (e: Error) => { failure ??= e; });
  parser.resume();
  let header: readonly string[] | undefined = format.header ? undefined : format.columns;
  let lastLine = 0;
  /** Set when the header is unusable: no row can be read against it. */
  let headerRejected = false;

  function* drain(): Generator<Row> {
    while (parsed.length) {
      const { fields, line } = parsed.shift()!;
      lastLine = line;
      const source = `${name}:${line}`;
      if (!header) {
        header = fields.map((h) => h.trim());
        const problem = headerProblem(header, set);
        if (problem) {
          headerRejected = true;
          parsed.length = 0;
          yield rowError(set, source, 'BAD_HEADER', `${problem}; no row of the file was read`);
          return;
        }
        continue;
      }
      if (fields.length !== header.length) {
        yield rowError(set, source, 'BAD_ROW', `${fields.length} fields, the header has ${header.length}`, JSON.stringify(fields));
        continue;
      }
      const record: RecordData = {};
      header.forEach((h, i) => { record[h] = fields[i]; });
      yield { set: set.name, source, record, input: JSON.stringify(record) };
    }
  }

  const stream = createReadStream(file);
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      lines.feed(chunk);
      const err = await new Promise<Error | null | undefined>((resolve) => parser.write(chunk, resolve));
      failure ??= err ?? undefined;
      yield* drain();
      if (failure || headerRejected) break;
    }
    if (headerRejected) return;
    if (!failure) {
      await new Promise<void>((resolve) => {
        parser.once('error', () => resolve());
        parser.end(() => resolve());
      });
      yield* drain();
      if (headerRejected) return;
    }
  } finally {
    stream.destroy();
  }
  if (failure) {
    yield rowError(set, `${name}:${lastLine + 1}`, 'CSV_SYNTAX',
      `CSV syntax error after line ${lastLine} (${failure.message}); nothing from here to the end of the file was read`);
  }
}

function headerProblem(header: readonly string[], set: RecordSet): string | undefined {
  const seen = new Set<string>();
  for (const h of header) {
    if (!h) return 'the header has an empty column name';
    if (seen.has(h)) return `the header names column '${h}' twice`;
    seen.add(h);
  }
  const missing = [...set.columns].filter((c) => !seen.has(c));
  if (missing.length) {
    return `the header lacks column(s) ${missing.join(', ')} that record set ${set.name} reads (header: ${header.join(', ')})`;
  }
  return undefined;
}

async function* readNdjson(file: string, name: string, set: RecordSet): AsyncGenerator<Row> {
  const stream = createReadStream(file, { encoding: set.format.encoding });
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  let line = 0;
  try {
    for await (const raw of rl) {
      line++;
      const text = line === 1 ? raw.replace(/^\uFEFF/, '') : raw;
      if (!text.trim()) continue;
      const source = `${name}:${line}`;
      let value: unknown;
      try {
        value = safeJsonParse(text);
      } catch (err) {
        yield rowError(set, source, 'BAD_JSON', `not valid JSON (${(err as Error).message})`, text);
        continue;
      }
      if (!isRecord(value)) { yield rowError(set, source, 'BAD_RECORD', 'a record must be a JSON object', text); continue; }
      yield { set: set.name, source, record: value, input: text };
    }
  } finally {
    rl.close();
    stream.destroy();
  }
}

async function* readJson(file: string, name: string, set: RecordSet): AsyncGenerator<Row> {
  if (set.format.type !== 'json') return;
  const path = set.format.recordPath;
  const text = readFileSync(file, set.format.encoding).replace(/^\uFEFF/, '');
  let doc: unknown;
  try {
    doc = safeJsonParse(text);
  } catch (err) {
    yield rowError(set, `${name}:1`, 'BAD_JSON', `not valid JSON (${(err as Error).message})`);
    return;
  }
  let list: unknown = doc;
  for (const step of path) list = isRecord(list) || Array.isArray(list) ? (list as Record<string, unknown>)[step] : undefined;
  if (!Array.isArray(list)) {
    yield rowError(set, `${name}:1`, 'BAD_JSON', path.length ? `no array at ${path.join('.')}` : 'the document is not a JSON array (set format.recordPath to the array)');
    return;
  }
  const lines = elementLines(text, path);
  for (const [i, value] of list.entries()) {
    const source = `${name}:${lines[i] ?? 1}`;
    const input = JSON.stringify(value);
    if (!isRecord(value)) { yield rowError(set, source, 'BAD_RECORD', `element ${i} is not a JSON object`, input); continue; }
    yield { set: set.name, source, record: value, input };
  }
}

const isRecord = (v: unknown): v is RecordData => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The line on which each element of the array at `path` starts, found by scanning the (already
 * validated) JSON text. JSON.parse keeps no positions, and the line is what a person needs to find
 * a rejected record in the file.
 */
export function elementLines(text: string, path: readonly string[]): number[] {
  type Frame = { array: boolean; member: string | number; expectingKey: boolean };
  const stack: Frame[] = [];
  const out: number[] = [];
  let line = 1;
  const atTarget = () => stack.length === path.length + 1 && stack[stack.length - 1]!.array
    && path.every((p, k) => String(stack[k]!.member) === p);
  const onValue = () => { if (atTarget()) out.push(line); };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\n') { line++; continue; }
    if (ch === ' ' || ch === '\t' || ch === '\r') continue;
    const top = stack[stack.length - 1];
    if (ch === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (top && !top.array && top.expectingKey) top.member = JSON.parse(text.slice(i, j + 1)) as string;
      else onValue();
      i = j;
      continue;
    }
    if (ch === '{' || ch === '[') { onValue(); stack.push({ array: ch === '[', member: 0, expectingKey: ch === '{' }); continue; }
    if (ch === '}' || ch === ']') { stack.pop(); continue; }
    if (ch === ':') { if (top) top.expectingKey = false; continue; }
    if (ch === ',') {
      if (top?.array) top.member = (top.member as number) + 1;
      else if (top) top.expectingKey = true;
      continue;
    }
    onValue();
    while (i + 1 < text.length && !/[\s,\]}]/.test(text[i + 1]!)) i++;
  }
  return out;
}
