/**
 * src/exchange/outbound.ts: the outbound client the JWKS cache fetches through (catalogue X-01..X-04,
 * R12). Real servers on 127.0.0.1 count their hits, so "refused" also means "never reached".
 */
import assert from 'node:assert/strict';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { classifyAddress, createOutboundClient, OutboundError } from '../../src/exchange/outbound.js';

interface Target { url: string; port: number; hits: number; close(): Promise<void> }

const servers: Target[] = [];
after(() => Promise.all(servers.map((s) => s.close())));

async function serve(handler: RequestListener): Promise<Target> {
  const state = { hits: 0 };
  const server: Server = createServer((req, res) => { state.hits++; handler(req, res); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const t: Target = {
    url: `http://127.0.0.1:${port}/`,
    port,
    get hits() { return state.hits; },
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
  servers.push(t);
  return t;
}

async function rejectsWith(p: Promise<unknown>, kind: OutboundError['kind'], message?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof OutboundError, String(e));
    assert.equal(e.kind, kind);
    if (message) assert.match(e.message, message);
    return true;
  });
}

describe('outbound client: SSRF guard (X-01)', () => {
  it('classifies loopback, private, link-local and mapped addresses', () => {
    assert.equal(classifyAddress('127.0.0.1'), 'loopback');
    assert.equal(classifyAddress('::1'), 'loopback');
    assert.equal(classifyAddress('::ffff:7f00:1'), 'loopback');
    assert.equal(classifyAddress('10.1.2.3'), 'private');
    assert.equal(classifyAddress('192.168.1.1'), 'private');
    assert.equal(classifyAddress('fd00::1'), 'private');
    assert.equal(classifyAddress('169.254.169.254'), 'blocked');
    assert.equal(classifyAddress('fe80::1'), 'blocked');
    assert.equal(classifyAddress('0.0.0.0'), 'blocked');
    assert.equal(classifyAddress('::'), 'blocked');
    assert.equal(classifyAddress('64:ff9b::7f00:1'), 'blocked');
    assert.equal(classifyAddress('8.8.8.8'), 'public');
    assert.equal(classifyAddress('2606:4700::1111'), 'public');
  });

  it('refuses every loopback spelling, link-local, private and non-http schemes without connecting', async () => {
    const target = await serve((_q, s) => s.end('{}'));
    const client = createOutboundClient();
    for (const url of [
      `https://127.0.0.1:${target.port}/`, `https://[::1]:${target.port}/`, `https://[::ffff:127.0.0.1]:${target.port}/`,
      `https://2130706433:${target.port}/`, `https://0x7f.1:${target.port}/`, 'https://169.254.169.254/latest/meta-data/',
      'https://10.0.0.1/', 'https://[fe80::1]/', 'file:///etc/passwd', 'gopher://127.0.0.1:70/', `http://127.0.0.1:${target.port}/`,
      `https://user@example.org/`,
    ]) {
      await rejectsWith(client.get(url), 'blocked', /./);
    }
    assert.equal(target.hits, 0);
    await client.close();
  });

  it('checks the resolved address at connect time: a name resolving to loopback is refused', async () => {
    const target = await serve((_q, s) => s.end('{}'));
    const client = createOutboundClient();
    await rejectsWith(client.get(`https://localhost:${target.port}/`), 'blocked', /not allowed/);
    assert.equal(target.hits, 0);
    await client.close();
  });

  it('with allowInsecureLoopback reaches loopback over http, but only the allowed ports', async () => {
    const allowed = await serve((_q, s) => s.end('{"ok":true}'));
    const other = await serve((_q, s) => s.end('{}'));
    const client = createOutboundClient({ allowInsecureLoopback: true, loopbackPorts: [allowed.port] });
    const res = await client.fetchJson(allowed.url);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { ok: true });
    await rejectsWith(client.get(other.url), 'blocked', /loopback port not allowed/);
    await rejectsWith(client.get(`http://localhost:${other.port}/`), 'blocked');
    await rejectsWith(client.get('http://10.0.0.1/'), 'blocked', /only https/);
    assert.equal(other.hits, 0);
    await client.close();
  });
});

describe('outbound client: redirects, size and time limits', () => {
  it('X-02: never follows a redirect; the caller sees the 3xx and the target sees nothing', async () => {
    const internal = await serve((_q, s) => s.end('secret'));
    const partner = await serve((_q, s) => { s.writeHead(302, { location: internal.url }); s.end(); });
    const client = createOutboundClient({ allowInsecureLoopback: true });
    const res = await client.get(partner.url);
    assert.equal(res.status, 302);
    assert.equal(internal.hits, 0);
    await client.close();
  });

  it('X-04: aborts a body over the cap, declared or streamed', async () => {
    const declared = await serve((_q, s) => { s.writeHead(200, { 'content-length': String(100_000) }); s.end('x'.repeat(100_000)); });
    const chunked = await serve((_q, s) => {
      s.writeHead(200, { 'content-type': 'application/json' });
      for (let i = 0; i < 100; i++) s.write('x'.repeat(1000));
      s.end();
    });
    const client = createOutboundClient({ allowInsecureLoopback: true, maxBytes: 64 * 1024 });
    await rejectsWith(client.get(declared.url), 'too-large', /65536/);
    await rejectsWith(client.get(chunked.url), 'too-large');
    await rejectsWith(client.get(chunked.url, { maxBytes: 1024 }), 'too-large', /1024/);
    await client.close();
  });

  it('X-03: a server that never answers, or drips its body, hits the overall deadline', async () => {
    const hang = await serve(() => { /* never answers */ });
    const drip = await serve((_q, s) => {
      s.writeHead(200);
      const t = setInterval(() => s.write('x'), 50);
      s.on('close', () => clearInterval(t));
    });
    const client = createOutboundClient({ allowInsecureLoopback: true, timeoutMs: 300 });
    const started = performance.now();
    await rejectsWith(client.get(hang.url), 'timeout');
    await rejectsWith(client.get(drip.url), 'timeout');
    assert.ok(performance.now() - started < 2000);
    await client.close();
  });

  it('fetchJson sends Accept: application/json and refuses a non-JSON 2xx body without echoing it', async () => {
    let accept: string | undefined;
    const target = await serve((q, s) => { accept = q.headers.accept; s.end('<html>not json</html>'); });
    const client = createOutboundClient({ allowInsecureLoopback: true });
    await rejectsWith(client.fetchJson(target.url), 'invalid-response', /^response body is not JSON$/);
    assert.equal(accept, 'application/json');
    await client.close();
  });

  it('fetchJson returns the status and no body for non-2xx answers', async () => {
    const target = await serve((_q, s) => { s.writeHead(503); s.end('down'); });
    const client = createOutboundClient({ allowInsecureLoopback: true });
    const res = await client.fetchJson(target.url);
    assert.equal(res.status, 503);
    assert.equal(res.json, undefined);
    await client.close();
  });
});
