/**
 * HL7 v2 TS/DTM/DT values (`YYYY[MM[DD[HH[MM[SS[.S...]]]]]][+/-ZZZZ]`) as FHIR date, dateTime and
 * instant. Precision is kept as far as FHIR can express it: a year stays a year, a day stays a day;
 * a time is written with seconds because FHIR dateTime requires them once hours are given.
 *
 * FHIR requires a time zone on every time. The offset is, in order: the one written in the value;
 * the one written in MSH-7 (HL7: the sender's zone applies to the whole message); the configured
 * zone of the sending site (an IANA name, so daylight saving is applied for the date in question);
 * UTC, reported as a warning because a wrong zone shifts clinical times.
 */
import { zoneOffsetAtWallTime } from '../../core/time-zones.js';

export interface ZoneContext {
  /** `+hh:mm` offset written in MSH-7, if any. */
  messageOffset?: string;
  /** IANA time zone of the sending site, e.g. `America/New_York`. */
  zone?: string;
}

export interface Hl7Time {
  /** FHIR date (YYYY, YYYY-MM or YYYY-MM-DD), the calendar date as written. */
  date: string;
  /** FHIR dateTime at the precision written. */
  dateTime: string;
  /** FHIR instant (missing time parts filled with zeros, in the resolved zone). */
  instant: string;
  /** How the offset was obtained. */
  offsetFrom: 'value' | 'message' | 'zone' | 'assumed-utc' | 'none';
}

const TS = /^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,4})?([+-]\d{4})?$/;

/** Parses a TS/DTM; undefined when the text is not a valid HL7 date/time (caller reports where). */
export function parseHl7Time(raw: string, zc: ZoneContext): Hl7Time | undefined {
  const m = TS.exec(raw.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, off] = m;
  const year = Number(y);
  if (year < 1) return undefined;
  if (mo !== undefined && (Number(mo) < 1 || Number(mo) > 12)) return undefined;
  if (d !== undefined && (Number(d) < 1 || Number(d) > daysIn(year, Number(mo)))) return undefined;
  if (h !== undefined && Number(h) > 23) return undefined;
  if (mi !== undefined && Number(mi) > 59) return undefined;
  if (s !== undefined && Number(s) > 59) return undefined;
  if (off !== undefined && (Number(off.slice(1, 3)) > 14 || Number(off.slice(3)) > 59)) return undefined;
  // HL7 allows a time only after a full date.
  if (h !== undefined && d === undefined) return undefined;

  const date = [y, mo, d].filter((p) => p !== undefined).join('-');
  const time = h !== undefined ? `${h}:${mi ?? '00'}:${s ?? '00'}${frac ?? ''}` : undefined;
  const wall = { year, month: Number(mo ?? 1), day: Number(d ?? 1), hour: Number(h ?? 0), minute: Number(mi ?? 0), second: Number(s ?? 0) };
  const resolved = resolveOffset(off, wall, zc);
  const fullDate = `${y}-${mo ?? '01'}-${d ?? '01'}`;
  return {
    date,
    dateTime: time ? `${date}T${time}${resolved.offset}` : date,
    instant: `${fullDate}T${time ?? '00:00:00'}${resolved.offset}`,
    offsetFrom: time ? resolved.from : 'none',
  };
}

/** `+hhmm` -> `+hh:mm`; `+0000` -> `Z` is not used so the sender's notation stays visible. */
export function fhirOffset(hl7: string): string {
  return `${hl7.slice(0, 3)}:${hl7.slice(3, 5)}`;
}

interface Wall { year: number; month: number; day: number; hour: number; minute: number; second: number }

function resolveOffset(written: string | undefined, wall: Wall, zc: ZoneContext): { offset: string; from: Hl7Time['offsetFrom'] } {
  if (written) return { offset: fhirOffset(written), from: 'value' };
  if (zc.messageOffset) return { offset: zc.messageOffset, from: 'message' };
  if (zc.zone) return { offset: zoneOffset(zc.zone, wall), from: 'zone' };
  return { offset: '+00:00', from: 'assumed-utc' };
}

/** The UTC offset of an IANA zone at a wall-clock time (DST-aware), as `+hh:mm`. */
export function zoneOffset(zone: string, wall: Wall): string {
  return zoneOffsetAtWallTime(zone, Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute, wall.second));
}

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}
