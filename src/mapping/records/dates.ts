/**
 * Date and time formats of export files (`MM/DD/YYYY`, `YYYYMMDD HH:mm`) to FHIR `date` and `dateTime`.
 *
 * Exports write local wall-clock times without an offset, but a FHIR dateTime with a time SHALL carry
 * one (https://hl7.org/fhir/R4/datatypes.html#dateTime). The offset is therefore computed from an IANA
 * time zone named in the mapping (`America/Chicago`), at that instant, so daylight-saving changes are
 * honoured; a fixed zone (`+02:00`, `Z`) is accepted too. Calendar dates are checked (no 31 April).
 */

import { isKnownZone, zoneOffsetAtWallTime } from '../../core/time-zones.js';

/** The tokens a format may use; every other character must appear literally in the input. */
const TOKENS = ['YYYY', 'MM', 'DD', 'HH', 'mm', 'ss', 'M', 'D', 'H', 'Z'] as const;
type Token = (typeof TOKENS)[number];

const TOKEN_PATTERN: Record<Token, string> = {
  YYYY: '(\\d{4})',
  MM: '(\\d{2})',
  DD: '(\\d{2})',
  HH: '(\\d{2})',
  mm: '(\\d{2})',
  ss: '(\\d{2}(?:\\.\\d{1,9})?)',
  M: '(\\d{1,2})',
  D: '(\\d{1,2})',
  H: '(\\d{1,2})',
  Z: '(Z|[+-]\\d{2}:?\\d{2})',
};

export interface DateFormat {
  readonly text: string;
  readonly regex: RegExp;
  readonly tokens: readonly Token[];
  /** Coarsest-to-finest precision the format carries. */
  readonly precision: 'year' | 'month' | 'day' | 'minute' | 'second';
}

/** Compiles a format such as `MM/DD/YYYY`; throws an Error describing the problem. */
export function compileDateFormat(text: string): DateFormat {
  let pattern = '';
  const tokens: Token[] = [];
  for (let i = 0; i < text.length;) {
    const token = TOKENS.find((t) => text.startsWith(t, i));
    if (token) {
      if (tokens.includes(token) || (token.length === 1 && tokens.includes(`${token}${token}` as Token))
        || (token.length === 2 && tokens.includes(token[0] as Token))) {
        throw new Error(`date format '${text}' uses ${token} twice`);
      }
      tokens.push(token);
      pattern += TOKEN_PATTERN[token];
      i += token.length;
      continue;
    }
    const ch = text[i]!;
    if (/[A-Za-z]/.test(ch) && ch !== 'T') {
      throw new Error(`date format '${text}': unknown token at '${text.slice(i)}' (tokens: ${TOKENS.join(', ')}; two-digit years are not accepted)`);
    }
    pattern += ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    i++;
  }
  const has = (...t: Token[]) => t.some((x) => tokens.includes(x));
  if (!has('YYYY')) throw new Error(`date format '${text}' has no year (YYYY)`);
  const precision = has('ss') ? 'second' : has('mm') ? 'minute' : has('DD', 'D') ? 'day' : has('MM', 'M') ? 'month' : 'year';
  if (has('DD', 'D') && !has('MM', 'M')) throw new Error(`date format '${text}' has a day but no month`);
  if ((precision === 'minute' || precision === 'second') && !has('HH', 'H')) throw new Error(`date format '${text}' has minutes but no hour`);
  if (has('HH', 'H') && !has('mm')) throw new Error(`date format '${text}' has an hour but no minutes (mm)`);
  if (has('HH', 'H') && !has('DD', 'D')) throw new Error(`date format '${text}' has a time but no day`);
  return { text, regex: new RegExp(`^${pattern}$`), tokens, precision };
}

interface Parts { year: number; month?: number; day?: number; hour?: number; minute?: number; second?: string; zone?: string }

function parseParts(value: string, format: DateFormat): Parts {
  const m = format.regex.exec(value);
  if (!m) throw new Error(`'${value}' does not match the date format ${format.text}`);
  const parts: Parts = { year: 0 };
  format.tokens.forEach((t, i) => {
    const v = m[i + 1]!;
    switch (t) {
      case 'YYYY': parts.year = Number(v); break;
      case 'MM': case 'M': parts.month = Number(v); break;
      case 'DD': case 'D': parts.day = Number(v); break;
      case 'HH': case 'H': parts.hour = Number(v); break;
      case 'mm': parts.minute = Number(v); break;
      case 'ss': parts.second = v; break;
      case 'Z': parts.zone = v; break;
    }
  });
  if (parts.month !== undefined && (parts.month < 1 || parts.month > 12)) throw new Error(`'${value}': month ${parts.month} does not exist`);
  if (parts.day !== undefined) {
    const last = new Date(Date.UTC(parts.year, parts.month!, 0)).getUTCDate();
    if (parts.day < 1 || parts.day > last) throw new Error(`'${value}': day ${parts.day} does not exist in ${parts.year}-${pad(parts.month!)}`);
  }
  if (parts.hour !== undefined && parts.hour > 23) throw new Error(`'${value}': hour ${parts.hour} does not exist`);
  if (parts.minute !== undefined && parts.minute > 59) throw new Error(`'${value}': minute ${parts.minute} does not exist`);
  if (parts.second !== undefined && Number(parts.second) >= 60) throw new Error(`'${value}': second ${parts.second} does not exist`);
  if (parts.year < 1) throw new Error(`'${value}': year 0000 does not exist`);
  return parts;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** `value` read with `format` as a FHIR date (year, year-month or full date). */
export function toFhirDate(value: string, format: DateFormat): string {
  return toFhirDateFromParts(parseParts(value, format));
}

/**
 * `value` read with `format` as a FHIR dateTime. A time without an offset in the input takes the
 * offset of `zone` at that wall-clock time; without a time, the date alone is returned (a valid dateTime).
 */
export function toFhirDateTime(value: string, format: DateFormat, zone: string | undefined): string {
  const p = parseParts(value, format);
  const date = toFhirDateFromParts(p);
  if (p.hour === undefined) return date;
  const seconds = p.second ?? '00';
  const wall = `${date}T${pad(p.hour)}:${pad(p.minute!)}:${seconds}`;
  let offset: string;
  if (p.zone) offset = normaliseOffset(p.zone);
  else if (zone) offset = offsetFor(p, zone);
  else throw new Error(`'${value}' has a time but no offset, and the mapping names no zone`);
  return `${wall}${offset}`;
}

function toFhirDateFromParts(p: Parts): string {
  return [pad(p.year, 4), p.month !== undefined ? pad(p.month) : undefined, p.day !== undefined ? pad(p.day) : undefined]
    .filter((x) => x !== undefined).join('-');
}

function normaliseOffset(z: string): string {
  if (z === 'Z') return 'Z';
  const m = /^([+-])(\d{2}):?(\d{2})$/.exec(z)!;
  if (Number(m[2]) > 14 || Number(m[3]) > 59) throw new Error(`offset ${z} does not exist`);
  return `${m[1]}${m[2]}:${m[3]}`;
}

/** Checks a zone name at mapping load time: a fixed offset or an IANA zone this Node.js knows. */
export function checkZone(zone: string): void {
  if (/^(Z|[+-]\d{2}:?\d{2})$/.test(zone)) { normaliseOffset(zone); return; }
  if (!isKnownZone(zone)) {
    throw new Error(`unknown time zone '${zone}' (use an IANA name such as America/New_York, or an offset such as -05:00)`);
  }
}

/** Offset of an IANA zone (or a fixed offset) at the given wall-clock time, as `+hh:mm`. */
function offsetFor(p: Parts, zone: string): string {
  if (/^(Z|[+-]\d{2}:?\d{2})$/.test(zone)) return normaliseOffset(zone);
  return zoneOffsetAtWallTime(zone, Date.UTC(p.year, p.month! - 1, p.day!, p.hour!, p.minute!, Math.floor(Number(p.second ?? 0))));
}
