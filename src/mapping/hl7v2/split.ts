/**
 * Splits a file or stream chunk into HL7 v2 messages. Senders differ in how they frame messages:
 * CR is the standard segment terminator, but files written on Unix use LF and on Windows CRLF, MLLP
 * frames add \x0b and \x1c, and batch files wrap messages in FHS/BHS ... BTS/FTS. Every message is
 * returned with segments separated by '\r' (the form Hl7Message.parse and the rest of this module
 * expect), blank lines removed. Batch envelope segments carry no clinical content and are dropped.
 */

/** Batch and file envelope segments (HL7 v2 chapter 2.10.3): framing, not content. */
const ENVELOPE = new Set(['FHS', 'FTS', 'BHS', 'BTS']);

/** One string per message, segments joined by '\r'. Text before the first MSH is ignored. */
export function splitHl7Messages(text: string): string[] {
  const messages: string[] = [];
  let current: string[] | undefined;
  for (const line of segmentLines(text)) {
    const name = line.slice(0, 3);
    if (ENVELOPE.has(name)) continue;
    if (name === 'MSH') {
      if (current) messages.push(current.join('\r'));
      current = [line];
    } else if (current) {
      current.push(line);
    }
  }
  if (current) messages.push(current.join('\r'));
  return messages;
}

/**
 * The segment lines of a text: MLLP start/end characters become separators, CR, LF and CRLF all end
 * a segment, whitespace-only lines are dropped. Trailing spaces are kept: they can be content of the
 * last field (formatted text), and a parser must not change content.
 */
export function segmentLines(text: string): string[] {
  return text
    .replace(/[\x0b\x1c]/g, '\r')
    .split(/\r\n|\r|\n/)
    .filter((line) => line.trim() !== '');
}
