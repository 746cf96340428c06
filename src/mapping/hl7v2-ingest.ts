/**
 * HL7 v2 into the ingest pipeline, and the HL7 acknowledgement of each message (original mode):
 * - AA: stored (or already stored: a replay changes nothing);
 * - AE: the content is wrong (missing identifier, bad date, invalid result): queued with the reason;
 * - AR: not something this gateway can process (not HL7 v2, unsupported message type), or the
 *   store is unavailable (the sender should retry later): MSA-3 and ERR say which.
 * MSA-2 always echoes MSH-10 of the message acknowledged.
 * See: HL7 v2.5.1 chapter 2, 2.9 (acknowledgment) and 2.15.8 (MSA), 2.15.5 (ERR).
 */
import { randomInt } from 'node:crypto';
import { isStoreUnavailable } from '../store/unavailable.js';
import { hl7Header, mapHl7v2, splitHl7Messages } from './hl7v2/index.js';
import type { IngestPipeline, IngestResult } from './ingest.js';
import type { Terminology } from './types.js';

export type AckCode = 'AA' | 'AE' | 'AR';

export interface Hl7IngestOutcome {
  controlId: string;
  ack: AckCode;
  /** The result of the pipeline; absent when the store could not be reached. */
  result?: IngestResult;
  /** The ACK message text (segments separated by CR). */
  ackMessage: string;
}

export interface Hl7Ingest {
  /** One message (text of one MSH..., any separators): stored whole or queued, and acknowledged. */
  message(text: string, channel: string): Promise<Hl7IngestOutcome>;
  /** A file or body holding several messages. */
  messages(text: string, channel: string): Promise<Hl7IngestOutcome[]>;
}

export function createHl7Ingest(d: { pipeline: IngestPipeline; terminology: Terminology; now: () => Date; timezone?: string }): Hl7Ingest {
  async function message(text: string, channel: string): Promise<Hl7IngestOutcome> {
    const header = safeHeader(text);
    const controlId = header?.controlId ?? '';
    let result: IngestResult;
    try {
      result = await d.pipeline.ingest(
        { channel, format: 'hl7v2', input: text, source: controlId ? `MSH-10 ${controlId}` : 'HL7 v2 message without MSH-10' },
        () => mapHl7v2(text, { terminology: d.terminology, ...(d.timezone ? { timezone: d.timezone } : {}) }),
      );
    } catch (err) {
      if (!isStoreUnavailable(err)) throw err;
      return {
        controlId, ack: 'AR',
        ackMessage: buildAck(text, header, 'AR', 'the gateway cannot store messages right now; send again later', '207'),
      };
    }
    if (result.status === 'failed') {
      const ack: AckCode = result.kind === 'unprocessable' ? 'AR' : 'AE';
      return { controlId, ack, result, ackMessage: buildAck(text, header, ack, result.reason, ack === 'AR' ? '200' : '207') };
    }
    return { controlId, ack: 'AA', result, ackMessage: buildAck(text, header, 'AA') };
  }

  return {
    message,
    async messages(text, channel) {
      const out: Hl7IngestOutcome[] = [];
      let storeDown = false;
      for (const m of splitHl7Messages(text)) {
        // Once the store is down, later messages are not attempted either (AR, send again): storing them
        // out of order could land an update before the create it depends on.
        if (storeDown) {
          const header = safeHeader(m);
          out.push({ controlId: header?.controlId ?? '', ack: 'AR', ackMessage: buildAck(m, header, 'AR', 'the gateway cannot store messages right now; send again later', '207') });
          continue;
        }
        const o = await message(m, channel);
        if (o.ack === 'AR' && !o.result) storeDown = true;
        out.push(o);
      }
      return out;
    },
  };

  function buildAck(text: string, header: ReturnType<typeof safeHeader>, code: AckCode, reason?: string, errCode?: string): string {
    const seps = separators(text);
    const esc = (s: string) => escapeHl7(s, seps);
    // Fields taken from the message's MSH are already encoded with its separators, which the ACK uses:
    // copied as they are, so an HD keeps its components (MSH-5/6 of the ACK = MSH-3/4 of the message).
    // Escaped only if they would break the ACK's structure (separators that could not be read).
    const copy = (s: string) => (s.includes(seps.field) || /[\r\n]/.test(s) ? esc(s) : s);
    const now = hl7Timestamp(d.now());
    const version = header?.version || '2.5.1';
    const c = seps.component;
    const trigger = header?.trigger ? `ACK${c}${esc(header.trigger)}${c}ACK` : 'ACK';
    const f = seps.field;
    const msh = [
      'MSH', `${seps.component}${seps.repetition}${seps.escape}${seps.subcomponent}`,
      copy(header?.receivingApplication ?? ''), copy(header?.receivingFacility ?? ''),
      copy(header?.sendingApplication ?? ''), copy(header?.sendingFacility ?? ''),
      now, '', trigger, `ACK${now.slice(0, 14)}${randomInt(1e6).toString().padStart(6, '0')}`,
      // MSH-11 echoes the message's processing id (a T test message gets a T acknowledgement).
      /^[DPT]$/.test(header?.processingId ?? '') ? header!.processingId : 'P', esc(version),
    ].join(f);
    const segments = [msh, ['MSA', code, copy(header?.controlId ?? ''), ...(reason ? [esc(reason.slice(0, 80))] : [])].join(f)];
    if (code !== 'AA' && reason) {
      // ERR-3 (HL7 table 0357), ERR-4 severity, ERR-8 user message (v2.5+).
      segments.push(['ERR', '', '', `${errCode ?? '207'}${seps.component}${ERROR_TEXT[errCode ?? '207'] ?? ''}${seps.component}HL70357`, 'E', '', '', '', esc(reason)].join(f));
    }
    return `${segments.join('\r')}\r`;
  }
}

const ERROR_TEXT: Record<string, string> = {
  '200': 'Unsupported message type',
  '207': 'Application internal error',
};

function safeHeader(text: string): ReturnType<typeof hl7Header> | undefined {
  try {
    return hl7Header(text);
  } catch {
    return undefined;
  }
}

interface Separators { field: string; component: string; repetition: string; escape: string; subcomponent: string }

/** The message's own separators (MSH-1, MSH-2), defaulting to the standard ones. */
function separators(text: string): Separators {
  const start = text.indexOf('MSH');
  const s = start >= 0 ? text.slice(start + 3, start + 8) : '';
  const ok = s.length === 5 && !/[\r\n]/.test(s) && new Set(s).size === 5;
  const [field, component, repetition, escape, subcomponent] = ok ? [...s] : ['|', '^', '~', '\\', '&'];
  return { field: field!, component: component!, repetition: repetition!, escape: escape!, subcomponent: subcomponent! };
}

/** Escapes text for an HL7 field (HL7 v2.5.1 2.7.4): \F\ \S\ \R\ \E\ \T\; line breaks become spaces. */
export function escapeHl7(s: string, seps: Separators): string {
  const e = seps.escape;
  let out = '';
  for (const ch of s.replace(/[\r\n]+/g, ' ')) {
    if (ch === e) out += `${e}E${e}`;
    else if (ch === seps.field) out += `${e}F${e}`;
    else if (ch === seps.component) out += `${e}S${e}`;
    else if (ch === seps.repetition) out += `${e}R${e}`;
    else if (ch === seps.subcomponent) out += `${e}T${e}`;
    else out += ch;
  }
  return out;
}

/** HL7 DTM in UTC with an explicit offset: YYYYMMDDHHMMSS+0000. */
function hl7Timestamp(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}+0000`;
}
