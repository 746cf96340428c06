/**
 * MLLP framing (HL7 v2 Minimal Lower Layer Protocol, Release 2): a message is sent as
 * <VT 0x0B> payload <FS 0x1C><CR 0x0D>. The decoder handles frames split across TCP chunks and
 * several frames in one chunk, ignores bytes between frames, and refuses frames larger than a limit.
 *
 * Written here rather than taken from @medplum/hl7: its connection assumes a frame ends exactly at
 * a chunk boundary (two messages in one chunk are parsed as one) and keeps a broken frame's bytes
 * after a parse error. See: HL7 v2.5.1 Appendix C (MLLP) and HL7 Transport Specification: MLLP R2.
 */
export const VT = 0x0b;
export const FS = 0x1c;
export const CR = 0x0d;

export class FrameTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`MLLP frame larger than ${limit} bytes`);
  }
}

export class MllpDecoder {
  private parts: Buffer[] = [];
  private size = 0;
  private inFrame = false;
  /** The previous chunk ended with FS inside a frame: a CR at the start of the next chunk ends the frame. */
  private pendingFs = false;

  constructor(private readonly maxFrameBytes: number) {}

  /** Feeds bytes; returns the payloads of the frames completed by them, in order. Throws FrameTooLargeError. */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let i = 0;
    if (this.pendingFs) {
      this.pendingFs = false;
      if (chunk[0] === CR) {
        out.push(this.finish());
        i = 1;
      } else {
        this.append(Buffer.from([FS]));
      }
    }
    while (i < chunk.length) {
      if (!this.inFrame) {
        const start = chunk.indexOf(VT, i);
        if (start < 0) return out;
        this.inFrame = true;
        i = start + 1;
        continue;
      }
      const fs = chunk.indexOf(FS, i);
      if (fs < 0) {
        this.append(chunk.subarray(i));
        return out;
      }
      this.append(chunk.subarray(i, fs));
      if (fs + 1 === chunk.length) {
        this.pendingFs = true;
        return out;
      }
      if (chunk[fs + 1] === CR) {
        out.push(this.finish());
        i = fs + 2;
      } else {
        // A lone FS inside a frame is payload (not expected in HL7 text, but not a frame end either).
        this.append(chunk.subarray(fs, fs + 1));
        i = fs + 1;
      }
    }
    return out;
  }

  private append(b: Buffer) {
    if (!b.length) return;
    this.size += b.length;
    if (this.size > this.maxFrameBytes) {
      this.reset();
      throw new FrameTooLargeError(this.maxFrameBytes);
    }
    this.parts.push(Buffer.from(b));
  }

  private finish(): Buffer {
    const payload = Buffer.concat(this.parts, this.size);
    this.reset();
    return payload;
  }

  private reset() {
    this.parts = [];
    this.size = 0;
    this.inFrame = false;
    this.pendingFs = false;
  }
}

/** Wraps a payload in an MLLP frame. */
export function frame(payload: string | Buffer): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  return Buffer.concat([Buffer.from([VT]), body, Buffer.from([FS, CR])]);
}
