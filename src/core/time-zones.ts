/**
 * IANA time zones for times sent without an offset (HL7 v2 DTM, the organization's exports): whether a
 * zone exists, and the offset it observes at a local wall-clock time. Formatters and checks are cached:
 * building an Intl.DateTimeFormat costs about 0.1 ms and ingest asks for every value.
 */
const formatters = new Map<string, Intl.DateTimeFormat>();
const known = new Map<string, boolean>();

/** True when `zone` is an IANA zone this runtime knows. */
export function isKnownZone(zone: string): boolean {
  let k = known.get(zone);
  if (k === undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: zone });
      k = true;
    } catch {
      k = false;
    }
    if (known.size < 1000) known.set(zone, k);
  }
  return k;
}

/** Minutes east of UTC that `zone` observes at the instant `utcMs`. */
function offsetMinutesAt(zone: string, utcMs: number): number {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
    formatters.set(zone, f);
  }
  const p = Object.fromEntries(f.formatToParts(new Date(utcMs)).map((x) => [x.type, x.value]));
  const local = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second));
  return Math.round((local - Math.floor(utcMs / 1000) * 1000) / 60_000);
}

/**
 * The offset (`+hh:mm`) `zone` observes at a local wall-clock time, given as that wall time read as UTC.
 * Two passes: the offset at the guessed instant, then at the corrected one; in a DST gap or overlap the
 * earlier offset wins, which is what most EHRs record.
 */
export function zoneOffsetAtWallTime(zone: string, wallAsUtcMs: number): string {
  let offsetMin = offsetMinutesAt(zone, wallAsUtcMs);
  offsetMin = offsetMinutesAt(zone, wallAsUtcMs - offsetMin * 60_000);
  const sign = offsetMin < 0 ? '-' : '+';
  const abs = Math.abs(offsetMin);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}
