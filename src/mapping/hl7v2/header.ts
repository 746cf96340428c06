/**
 * MSH fields, read without the full parser so that an ACK can always be built, even for a message
 * that cannot be mapped or parsed (the ACK must echo MSH-10 and swap sender and receiver).
 */
import { segmentLines } from './split.js';

export interface Hl7Header {
  controlId: string;
  /** MSH-9.1, e.g. `ADT`. */
  messageType: string;
  /** MSH-9.2, e.g. `A01`. */
  trigger: string;
  /** MSH-12.1, e.g. `2.5.1`. */
  version: string;
  /** MSH-3 as sent (all components, e.g. `LAB^1.2.3^ISO`). */
  sendingApplication: string;
  sendingFacility: string;
  receivingApplication: string;
  receivingFacility: string;
  /** MSH-7 as sent. */
  dateTime: string;
  /** MSH-11.1, e.g. `P`. */
  processingId: string;
}

const EMPTY: Hl7Header = {
  controlId: '', messageType: '', trigger: '', version: '', sendingApplication: '', sendingFacility: '',
  receivingApplication: '', receivingFacility: '', dateTime: '', processingId: '',
};

/** The header of the first message in `text`; all fields '' when there is no usable MSH. Never throws. */
export function hl7Header(text: string): Hl7Header {
  const msh = segmentLines(typeof text === 'string' ? text : '').find((l) => l.startsWith('MSH'));
  if (!msh || msh.length < 4) return { ...EMPTY };
  const sep = msh[3]!;
  const fields = msh.split(sep); // fields[1] = MSH-2, fields[n] = MSH-(n+1)
  const comp = (fields[1] ?? '')[0] || '^';
  const f = (n: number) => (fields[n - 1] ?? '').trim();
  const c = (n: number, i: number) => (f(n).split(comp)[i - 1] ?? '').trim();
  return {
    controlId: f(10),
    messageType: c(9, 1),
    trigger: c(9, 2),
    version: c(12, 1),
    sendingApplication: f(3),
    sendingFacility: f(4),
    receivingApplication: f(5),
    receivingFacility: f(6),
    dateTime: f(7),
    processingId: c(11, 1),
  };
}
