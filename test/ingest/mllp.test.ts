/**
 * Issue #3: the MLLP listener as an internal system meets it, over 127.0.0.1, wired to a whole gateway
 * exactly as src/main.ts wires it. A real HL7 client (@medplum/hl7 Hl7Client) checks the ACKs (AA, AE,
 * AR); raw sockets check the framing (several frames per write, a frame split byte by byte, bytes
 * outside frames, oversized frames, ACK order).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Hl7Message } from '@medplum/core';
import { Hl7Client } from '@medplum/hl7';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { createHl7Ingest } from '../../src/mapping/hl7v2-ingest.js';
import { createIngestPipeline } from '../../src/mapping/ingest.js';
import { CR, FS, MllpDecoder, VT, frame } from '../../src/mllp/framing.js';
import { startMllpListener, type MllpListener } from '../../src/mllp/listener.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';
import { RIVERSIDE, badDateAdt, hl7Fixture, parseAck, patientByMrn, schedulingMessage, smallAdt } from './helpers.js';

/** A plain TCP client that collects the MLLP frames the listener sends back. */
class RawMllpClient {
  readonly acks: string[] = [];
  private buf = Buffer.alloc(0);
  private waiters: Array<{ n: number; resolve: () => void; reject: (e: Error) => void }> = [];
  private ended = false;
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.buf = Buffer.concat([this.buf, chunk]);
      for (;;) {
        const start = this.buf.indexOf(VT);
        const end = this.buf.indexOf(Buffer.from([FS, CR]), start + 1);
        if (start < 0 || end < 0) break;
        this.acks.push(this.buf.subarray(start + 1, end).toString('utf8'));
        this.buf = this.buf.subarray(end + 2);
      }
      this.settle();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => {
      this.ended = true;
      this.settle();
      resolve();
    }));
  }

  static connect(port: number): Promise<RawMllpClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(new RawMllpClient(s)));
      s.once('error', reject);
    });
  }

  write(bytes: Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(bytes, (err) => (err ? reject(err) : resolve())));
  }

  /** Resolves when `n` ACKs have arrived; rejects if the connection closes first. */
  waitForAcks(n: number): Promise<string[]> {
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ n, resolve, reject });
      this.settle();
    }).then(() => this.acks.slice(0, n));
  }

  private settle() {
    this.waiters = this.waiters.filter((w) => {
      if (this.acks.length >= w.n) { w.resolve(); return false; }
      if (this.ended) { w.reject(new Error(`connection closed after ${this.acks.length} of ${w.n} ACKs`)); return false; }
      return true;
    });
  }

  close(): Promise<void> {
    this.socket.end();
    return this.closed;
  }
}

/** MSA-2 of each ACK, in arrival order. */
const msa2 = (acks: string[]) => acks.map((a) => parseAck(a).field('MSA', 2));
const msa1 = (acks: string[]) => acks.map((a) => parseAck(a).field('MSA', 1));

describe('MLLP listener over 127.0.0.1', { timeout: 20_000 }, () => {
  let t: TestApp;
  let listener: MllpListener;
  /** The same gateway behind a listener with a small frame limit. */
  let small: MllpListener;

  before(async () => {
    t = await createTestApp();
    const handle = async (text: string) => (await t.gw.ingest.hl7.message(text, 'mllp')).ackMessage;
    listener = await startMllpListener({ host: '127.0.0.1', port: 0, log: silentLogger, handle });
    small = await startMllpListener({ host: '127.0.0.1', port: 0, log: silentLogger, handle, maxFrameBytes: 256 });
  });
  after(async () => {
    await listener?.close();
    await small?.close();
    await t?.close();
  });

  describe('with a real HL7 client (@medplum/hl7)', () => {
    let client: Hl7Client;
    before(() => { client = new Hl7Client({ host: '127.0.0.1', port: listener.port }); });
    after(() => client.close());

    /**
     * sendAndWait, failing after 10 s if no ACK with MSA-2 = MSH-10 arrives. (Hl7Client's own timeoutMs
     * leaves its timer running after the answer, which would hold the process open.)
     */
    async function exchange(sent: Hl7Message): Promise<Hl7Message> {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('no ACK echoing MSH-10 within 10 s')), 10_000);
      });
      try {
        return await Promise.race([client.sendAndWait(sent), timeout]);
      } finally {
        clearTimeout(timer);
      }
    }
    const send = (text: string) => exchange(Hl7Message.parse(text));

    it('AA: an admission is stored and acknowledged; MSA-2 echoes MSH-10 and the ACK goes back to the sender', async () => {
      const sent = Hl7Message.parse(hl7Fixture('adt-a01-admit.hl7'));
      const ack = parseAck((await exchange(sent)).toString());
      assert.equal(ack.field('MSA', 1), 'AA');
      assert.equal(ack.field('MSA', 2), 'RGH-ADT-1001');
      assert.equal(ack.field('MSA', 3) ?? '', '', 'an AA carries no error text');
      assert.ok(!ack.segments.some((s) => s.startsWith('ERR|')), 'an AA has no ERR segment');
      assert.equal(ack.field('MSH', 9), 'ACK^A01^ACK');
      // HL7 v2.5.1 2.9: the ACK's receiver is the message's sender, components (HD) included.
      assert.equal(ack.field('MSH', 5), RIVERSIDE.sendingApplication);
      assert.equal(ack.field('MSH', 6), RIVERSIDE.sendingFacility);
      assert.equal(ack.field('MSH', 3), RIVERSIDE.receivingApplication);
      assert.equal(ack.field('MSH', 4), RIVERSIDE.receivingFacility);
      assert.notEqual(ack.field('MSH', 10), 'RGH-ADT-1001', 'the ACK has its own control id');

      const patient = await patientByMrn(t.stores, 'MRN-448812');
      assert.ok(patient, 'the admitted Patient is in the store');
      assert.equal(patient.name?.[0]?.family, 'Okafor');
      const enc = await t.stores.resources.search({ resourceType: 'Encounter', filters: [{ code: 'patient', values: [{ value: `Patient/${patient.id}` }] }], count: 10, offset: 0 });
      assert.equal(enc.resources.length, 1, 'the admission Encounter is stored with its Patient');
      assert.deepEqual(await t.stores.ingestErrors.list({ status: 'open' }), []);
    });

    it('AE: a content error is acknowledged with MSA-3 and ERR naming the field; nothing is stored; the input is queued verbatim', async () => {
      const text = badDateAdt('MLLP-AE-1', 'MRN-MLLP-AE');
      const sent = Hl7Message.parse(text);
      const ack = parseAck((await exchange(sent)).toString());
      assert.equal(ack.field('MSA', 1), 'AE');
      assert.equal(ack.field('MSA', 2), 'MLLP-AE-1');
      assert.match(ack.field('MSA', 3) ?? '', /^PID-7: "19861345" is not a valid HL7 date\/time/);
      assert.ok((ack.field('MSA', 3) ?? '').length <= 80, 'MSA-3 is at most 80 characters');
      assert.equal(ack.field('ERR', 3), '207^Application internal error^HL70357');
      assert.equal(ack.field('ERR', 4), 'E');
      assert.match(ack.field('ERR', 8) ?? '', /^PID-7: "19861345" is not a valid HL7 date\/time \(YYYY/);

      assert.equal(await patientByMrn(t.stores, 'MRN-MLLP-AE'), undefined, 'nothing of the refused message is stored');
      const queued = (await t.stores.ingestErrors.list({ status: 'open' })).filter((e) => e.source === 'MSH-10 MLLP-AE-1');
      assert.equal(queued.length, 1);
      assert.equal(queued[0]!.input, sent.toString(), 'the queued input is the message as it arrived');
      assert.equal(queued[0]!.channel, 'mllp');
      assert.equal(queued[0]!.format, 'hl7v2');
      const issue = (queued[0]!.outcome as { issue: Array<{ code: string; details: { text: string; coding: Array<{ code: string }> } }> }).issue[0]!;
      assert.equal(issue.code, 'invalid');
      assert.equal(issue.details.coding[0]!.code, 'INVALID_DATE');
    });

    it('AR: a message type the gateway does not process is refused with ERR 200 and queued verbatim', async () => {
      const text = schedulingMessage('MLLP-AR-1');
      const sent = Hl7Message.parse(text);
      const ack = parseAck((await exchange(sent)).toString());
      assert.equal(ack.field('MSA', 1), 'AR');
      assert.equal(ack.field('MSA', 2), 'MLLP-AR-1');
      assert.equal(ack.field('MSH', 9), 'ACK^S12^ACK');
      // The reason names the type; its ^ is escaped so that MSA-3 stays one component.
      assert.match(ack.field('MSA', 3) ?? '', /^SIU\\S\\S12: .*Appointment is not stored/);
      assert.equal(ack.field('ERR', 3), '200^Unsupported message type^HL70357');
      assert.match(ack.field('ERR', 8) ?? '', /^SIU\\S\\S12: /);

      assert.equal(await patientByMrn(t.stores, 'MRN-SIU-1'), undefined, 'not even the PID of a refused type is stored');
      const queued = (await t.stores.ingestErrors.list({ status: 'open' })).filter((e) => e.source === 'MSH-10 MLLP-AR-1');
      assert.equal(queued.length, 1);
      assert.equal(queued[0]!.input, sent.toString());
      assert.equal((queued[0]!.outcome as { issue: Array<{ code: string }> }).issue[0]!.code, 'not-supported');
    });

    it('AR: an unsupported HL7 version is refused, naming the version', async () => {
      const text = smallAdt('MLLP-V22', 'MRN-V22').replace('|P|2.5.1', '|P|2.2');
      const ack = parseAck((await send(text)).toString());
      assert.deepEqual([ack.field('MSA', 1), ack.field('MSA', 2)], ['AR', 'MLLP-V22']);
      assert.match(ack.field('MSA', 3) ?? '', /HL7 version "2\.2" is not supported/);
      assert.equal(ack.field('MSH', 12), '2.2', 'the ACK answers in the version of the message');
      assert.equal(await patientByMrn(t.stores, 'MRN-V22'), undefined);
    });
  });

  it('AR when the store cannot be reached: the sender is told to send again later, and nothing is queued', async () => {
    // The same gateway's pipeline over a resource store whose transactions fail as during a database outage.
    const outage = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const store = new Proxy(t.stores.resources, {
      get: (target, prop) => (prop === 'transaction' ? async () => { throw outage; } : Reflect.get(target, prop, target)),
    });
    const pipeline = createIngestPipeline({ store, errors: t.stores.ingestErrors, defs: t.gw.defs, labeler: t.gw.ingest.labeler, clock: systemClock });
    const hl7 = createHl7Ingest({ pipeline, terminology: t.gw.ingest.terminology, now: () => new Date() });
    const down = await startMllpListener({ host: '127.0.0.1', port: 0, log: silentLogger, handle: async (text) => (await hl7.message(text, 'mllp')).ackMessage });
    const queued = (await t.stores.ingestErrors.list({})).length;
    const c = await RawMllpClient.connect(down.port);
    try {
      await c.write(frame(smallAdt('RAW-DOWN-1', 'MRN-DOWN')));
      const ack = parseAck((await c.waitForAcks(1))[0]!);
      assert.deepEqual([ack.field('MSA', 1), ack.field('MSA', 2)], ['AR', 'RAW-DOWN-1']);
      assert.match(ack.field('MSA', 3) ?? '', /cannot store messages right now; send again later/);
      assert.equal(ack.field('ERR', 3), '207^Application internal error^HL70357');
      assert.equal((await t.stores.ingestErrors.list({})).length, queued, 'an outage is not a content error: nothing is queued');
      assert.equal(await patientByMrn(t.stores, 'MRN-DOWN'), undefined);
    } finally {
      await c.close();
      await down.close();
    }
  });

  describe('framing, with a raw socket', () => {
    it('answers two frames sent in one TCP write, in order', async () => {
      const c = await RawMllpClient.connect(listener.port);
      try {
        await c.write(Buffer.concat([frame(smallAdt('RAW-2W-1', 'MRN-RAW-1')), frame(smallAdt('RAW-2W-2', 'MRN-RAW-2'))]));
        const acks = await c.waitForAcks(2);
        assert.deepEqual(msa2(acks), ['RAW-2W-1', 'RAW-2W-2']);
        assert.deepEqual(msa1(acks), ['AA', 'AA']);
        assert.ok(await patientByMrn(t.stores, 'MRN-RAW-1'));
        assert.ok(await patientByMrn(t.stores, 'MRN-RAW-2'));
      } finally { await c.close(); }
    });

    it('reassembles a frame written one byte at a time (FS and CR in separate writes)', async () => {
      const c = await RawMllpClient.connect(listener.port);
      try {
        const bytes = frame(smallAdt('RAW-BYTE-1', 'MRN-RAW-BYTE', 'Bytewise'));
        for (const b of bytes) await c.write(Buffer.of(b));
        const [ack] = await c.waitForAcks(1);
        assert.deepEqual([parseAck(ack!).field('MSA', 1), parseAck(ack!).field('MSA', 2)], ['AA', 'RAW-BYTE-1']);
        assert.equal((await patientByMrn(t.stores, 'MRN-RAW-BYTE'))?.name?.[0]?.family, 'Bytewise', 'the payload arrived whole');
      } finally { await c.close(); }
    });

    it('ignores bytes outside frames (before, between and after them)', async () => {
      const c = await RawMllpClient.connect(listener.port);
      try {
        await c.write(Buffer.concat([
          Buffer.from('noise before\r\n'), Buffer.from([FS, CR]), frame(smallAdt('RAW-NOISE-1', 'MRN-NOISE-1')),
          Buffer.from('PID|1||MRN-NOT-A-FRAME^^^X^MR||Ghost^Gus\r'), frame(smallAdt('RAW-NOISE-2', 'MRN-NOISE-2')),
          Buffer.from('trailing'),
        ]));
        const acks = await c.waitForAcks(2);
        assert.deepEqual(msa2(acks), ['RAW-NOISE-1', 'RAW-NOISE-2']);
        assert.deepEqual(msa1(acks), ['AA', 'AA']);
        assert.equal(await patientByMrn(t.stores, 'MRN-NOT-A-FRAME'), undefined);
        // The connection is still usable after the noise.
        await c.write(frame(smallAdt('RAW-NOISE-3', 'MRN-NOISE-3')));
        assert.deepEqual(msa2(await c.waitForAcks(3)), ['RAW-NOISE-1', 'RAW-NOISE-2', 'RAW-NOISE-3']);
      } finally { await c.close(); }
    });

    it('closes the connection on a frame larger than maxFrameBytes, without answering it; new connections still work', async () => {
      const c = await RawMllpClient.connect(small.port);
      // The server may reset the connection while this is still being written: only its closing matters.
      await c.write(Buffer.concat([Buffer.from([VT]), Buffer.from(`${smallAdt('RAW-BIG-1', 'MRN-BIG')}\rNTE|1||${'x'.repeat(400)}`), Buffer.from([FS, CR])]))
        .catch(() => undefined);
      await c.closed;
      assert.equal(c.acks.length, 0, 'no ACK for an oversized frame');
      assert.equal(await patientByMrn(t.stores, 'MRN-BIG'), undefined);

      const again = await RawMllpClient.connect(small.port);
      try {
        const text = smallAdt('RAW-FITS-1', 'MRN-FITS');
        assert.ok(Buffer.byteLength(text) < 256);
        await again.write(frame(text));
        assert.deepEqual(msa2(await again.waitForAcks(1)), ['RAW-FITS-1']);
      } finally { await again.close(); }
    });

    it('answers a frame without an HL7 message with AR and an empty MSA-2, and queues it', async () => {
      const c = await RawMllpClient.connect(listener.port);
      try {
        await c.write(frame('hello, is this the lab?'));
        const ack = parseAck((await c.waitForAcks(1))[0]!);
        assert.equal(ack.field('MSA', 1), 'AR');
        assert.equal(ack.field('MSA', 2), '');
        assert.match(ack.field('MSA', 3) ?? '', /not an HL7 v2 message/);
        const queued = (await t.stores.ingestErrors.list({ status: 'open' })).filter((e) => e.input === 'hello, is this the lab?');
        assert.equal(queued.length, 1);
        assert.equal(queued[0]!.channel, 'mllp');
      } finally { await c.close(); }
    });

    it('answers in the message\'s own encoding characters, copying the sender\'s HD components', async () => {
      const text = 'MSH|*~\\&|RAW_EHR|RAW_FAC*1.2.3*ISO|FXG|FXG_GATEWAY|20240101120000-0500||ADT*A28*ADT_A05|RAW-SEP-1|P|2.5.1\r'
        + 'PID|1||MRN-SEP***RAW_FAC*MR||Separate*Sam||19800101|M';
      const c = await RawMllpClient.connect(listener.port);
      try {
        await c.write(frame(text));
        const ack = parseAck((await c.waitForAcks(1))[0]!);
        assert.equal(ack.field('MSH', 2), '*~\\&');
        assert.equal(ack.field('MSH', 9), 'ACK*A28*ACK');
        assert.equal(ack.field('MSH', 6), 'RAW_FAC*1.2.3*ISO');
        assert.deepEqual([ack.field('MSA', 1), ack.field('MSA', 2)], ['AA', 'RAW-SEP-1']);
        assert.equal((await patientByMrn(t.stores, 'MRN-SEP'))?.name?.[0]?.family, 'Separate');
      } finally { await c.close(); }
    });

    it('ACKs come back in the order the messages were sent, and an update never overtakes its create', async () => {
      const a01 = hl7Fixture('adt-a01-admit.hl7').replace('RGH-ADT-1001', 'ORDER-1').replace(/MRN-448812/g, 'MRN-ORDER').replace(/V2024-0311-0042/g, 'V-ORDER');
      const a08 = hl7Fixture('adt-a08-update.hl7').replace('RGH-ADT-1002', 'ORDER-5').replace(/MRN-448812/g, 'MRN-ORDER').replace(/V2024-0311-0042/g, 'V-ORDER');
      const c = await RawMllpClient.connect(listener.port);
      try {
        await c.write(Buffer.concat([
          frame(a01), frame(badDateAdt('ORDER-2', 'MRN-ORDER-AE')), frame(schedulingMessage('ORDER-3')),
          frame(smallAdt('ORDER-4', 'MRN-ORDER-4')), frame(a08),
        ]));
        const acks = await c.waitForAcks(5);
        assert.deepEqual(msa2(acks), ['ORDER-1', 'ORDER-2', 'ORDER-3', 'ORDER-4', 'ORDER-5']);
        assert.deepEqual(msa1(acks), ['AA', 'AE', 'AR', 'AA', 'AA']);
        const p = await patientByMrn(t.stores, 'MRN-ORDER');
        assert.equal(p?.meta?.versionId, '2', 'the A01 created the Patient, the A08 updated it');
        assert.equal(p?.address?.[0]?.line?.[0], '88 Alder Court', 'the later message (A08) is the current version');
      } finally { await c.close(); }
    });
  });
});

describe('MllpDecoder', () => {
  const bytes = (s: string) => Buffer.from(s, 'latin1');

  it('completes a frame whose FS and CR arrive in different chunks, and keeps a lone FS as payload', () => {
    const d = new MllpDecoder(1024);
    assert.deepEqual(d.push(Buffer.concat([Buffer.of(VT), bytes('MSH|a'), Buffer.of(FS)])), []);
    assert.deepEqual(d.push(Buffer.of(CR)).map(String), ['MSH|a']);
    assert.deepEqual(d.push(Buffer.concat([Buffer.of(VT), bytes('x'), Buffer.of(FS), bytes('y'), Buffer.of(FS, CR)])).map((b) => b.toString('latin1')),
      [`x${String.fromCharCode(FS)}y`]);
    // A chunk that ends with FS, followed by a chunk that does not start with CR: the FS was payload.
    assert.deepEqual(d.push(Buffer.concat([Buffer.of(VT), bytes('p'), Buffer.of(FS)])), []);
    assert.deepEqual(d.push(Buffer.concat([bytes('q'), Buffer.of(FS, CR)])).map((b) => b.toString('latin1')), [`p${String.fromCharCode(FS)}q`]);
  });

  it('gives the same payloads whether fed whole or byte by byte', () => {
    const stream = Buffer.concat([bytes('junk'), frame('MSH|1'), bytes('\r\n'), frame('MSH|2'), frame('MSH|3')]);
    const whole = new MllpDecoder(1024).push(stream).map(String);
    const d = new MllpDecoder(1024);
    const split = [...stream].flatMap((b) => d.push(Buffer.of(b)).map(String));
    assert.deepEqual(whole, ['MSH|1', 'MSH|2', 'MSH|3']);
    assert.deepEqual(split, whole);
  });

  it('throws FrameTooLargeError past the limit, then decodes the next frame cleanly', () => {
    const d = new MllpDecoder(8);
    assert.throws(() => d.push(Buffer.concat([Buffer.of(VT), bytes('123456789')])), /larger than 8 bytes/);
    assert.deepEqual(d.push(frame('ok')).map(String), ['ok']);
  });
});
