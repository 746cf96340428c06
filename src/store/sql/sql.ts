/**
 * A tiny SQL builder shared by both dialects. Text is written with `?` placeholders and values
 * travel separately, so user input can never become SQL text; the PostgreSQL executor renumbers
 * the placeholders to `$1..$n`. Identifiers (table and column names) only ever come from constants.
 */

/** A value a statement may bind: both drivers accept exactly these. */
export type SqlValue = string | number | null;

/** A piece of SQL text with the values of its placeholders, in textual order. */
export class SqlFragment {
  constructor(
    readonly text: string,
    readonly params: readonly SqlValue[],
  ) {}
}

/**
 * Tagged template: interpolated SqlFragments are spliced in (text and params), any other value
 * becomes a `?` placeholder. `sql\`a = ${x} AND ${other}\``.
 */
export function sql(strings: TemplateStringsArray, ...values: ReadonlyArray<SqlValue | SqlFragment>): SqlFragment {
  let text = strings[0] ?? '';
  const params: SqlValue[] = [];
  values.forEach((v, i) => {
    if (v instanceof SqlFragment) {
      text += v.text;
      params.push(...v.params);
    } else {
      text += '?';
      params.push(v);
    }
    text += strings[i + 1] ?? '';
  });
  return new SqlFragment(text, params);
}

/** Trusted SQL text (a constant identifier or keyword), never user input. */
export const raw = (text: string) => new SqlFragment(text, []);

/** Joins fragments with a separator (`' AND '`, `', '`). */
export function join(parts: readonly SqlFragment[], separator: string): SqlFragment {
  return new SqlFragment(
    parts.map((p) => p.text).join(separator),
    parts.flatMap((p) => p.params),
  );
}

/** `(?, ?, ?)` for an IN list; callers guarantee a non-empty list. */
export function list(values: readonly SqlValue[]): SqlFragment {
  return new SqlFragment(`(${values.map(() => '?').join(', ')})`, values);
}

/** Escapes LIKE wildcards so a user value matches literally (used with `ESCAPE '\'`). */
export const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);
