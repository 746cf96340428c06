/**
 * HL7 v2 escape sequences (v2.5.1 chapter 2.7). @medplum/core splits a message into fields and
 * components but returns values still escaped, so every value read for FHIR goes through here:
 * `\F\` `\S\` `\T\` `\R\` `\E\` become the delimiter they stand for, `\.br\` a line break, `\Xhh\` the
 * bytes it encodes (read as UTF-8, else Latin-1); highlighting (`\H\`, `\N\`) and other formatting
 * commands are dropped. A backslash that starts no complete sequence is kept as written, so malformed
 * input is never silently shortened.
 */
export interface Delimiters {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
}

export function unescapeHl7(value: string, d: Delimiters): string {
  const esc = d.escape;
  if (!esc || !value.includes(esc)) return value;
  let out = '';
  let i = 0;
  while (i < value.length) {
    const ch = value[i]!;
    if (ch !== esc) {
      out += ch;
      i++;
      continue;
    }
    const end = value.indexOf(esc, i + 1);
    if (end < 0) {
      out += value.slice(i);
      break;
    }
    const seq = value.slice(i + 1, end);
    const replaced = expand(seq, d);
    if (replaced === undefined) {
      // Not an escape sequence: keep the backslash literally and continue after it.
      out += ch;
      i++;
      continue;
    }
    out += replaced;
    i = end + 1;
  }
  return out;
}

function expand(seq: string, d: Delimiters): string | undefined {
  switch (seq) {
    case 'F': return d.field;
    case 'S': return d.component;
    case 'T': return d.subcomponent;
    case 'R': return d.repetition;
    case 'E': return d.escape;
    case 'H': case 'N': return '';
    case '.br': return '\n';
  }
  if (/^\.(sp|fi|nf|in|ti|sk|ce)[+-]?\d*$/.test(seq)) return seq.startsWith('.sp') ? '\n' : '';
  if (/^X([0-9A-Fa-f]{2})+$/.test(seq)) {
    const bytes = Buffer.from(seq.slice(1), 'hex');
    const utf8 = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
    return utf8.includes('\uFFFD') ? bytes.toString('latin1') : utf8;
  }
  if (/^[CMZ][0-9A-Za-z]*$/.test(seq)) return ''; // character-set switches and locally defined sequences
  return undefined;
}
