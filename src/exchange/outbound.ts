/**
 * The one outbound HTTP client (design.md §2: only exchange/ and pharmacy/ send HTTP, through this).
 * Built on undici with secure defaults:
 * - https only (plain http is allowed only to loopback, and only with `allowInsecureLoopback`, for tests);
 * - an SSRF guard: the destination address is resolved once, checked, and that same address is
 *   connected to (the guard runs inside the socket's DNS lookup, so DNS rebinding cannot swap it);
 *   loopback, RFC 1918, link-local (169.254.169.254), CGNAT, multicast, reserved and IPv4-mapped or
 *   embedded IPv6 forms are refused unless explicitly allowed;
 * - no redirects are ever followed (the caller sees the 3xx status);
 * - a connect timeout, a headers timeout, and an overall deadline that also covers a dripping body;
 * - a response size cap enforced while streaming (nothing is buffered beyond the cap).
 *
 * See: test-catalogue.md X-01..X-04, R12; OWASP SSRF Prevention Cheat Sheet.
 */
import dns from 'node:dns';
import net from 'node:net';
import { Agent, buildConnector, request, type Dispatcher } from 'undici';

export type OutboundErrorKind = 'blocked' | 'timeout' | 'too-large' | 'network' | 'invalid-response';

/** A failed outbound call. `message` names the reason without response content; safe to log. */
export class OutboundError extends Error {
  override readonly name = 'OutboundError';
  constructor(readonly kind: OutboundErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface OutboundOptions {
  /** Overall deadline per call, including the body (default 10 s). */
  timeoutMs?: number;
  /** TCP/TLS connect timeout (default 3 s). */
  connectTimeoutMs?: number;
  /** Largest response body accepted (default 20 MiB). */
  maxBytes?: number;
  /**
   * Tests only: allow plain `http:` and loopback destinations (127.0.0.0/8, ::1). Other private
   * ranges stay blocked. Never set in production.
   */
  allowInsecureLoopback?: boolean;
  /** With allowInsecureLoopback: only these loopback ports may be reached (X-01: exact host:port allow-list). */
  loopbackPorts?: readonly number[];
  /** Allow RFC 1918 / ULA destinations (partners on an internal network). Loopback and link-local stay blocked. */
  allowPrivateNetworks?: boolean;
  /** Injected dispatcher (an undici MockAgent in tests). The address guard then applies to URL literals only. */
  dispatcher?: Dispatcher;
  userAgent?: string;
}

export interface OutboundRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Per-call deadline; never longer than the client's. */
  timeoutMs?: number;
  /** Per-call size cap; never larger than the client's. */
  maxBytes?: number;
}

export interface OutboundResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Uint8Array;
}

export interface OutboundJsonResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The parsed body of a 2xx response; undefined for any other status (its body is discarded). */
  json: unknown;
}

export interface OutboundClient {
  request(url: string, init?: OutboundRequest): Promise<OutboundResponse>;
  /** GET; same as request(url, { ...init, method: 'GET' }). */
  get(url: string, init?: Omit<OutboundRequest, 'method' | 'body'>): Promise<OutboundResponse>;
  /**
   * GET with `Accept: application/json` (SMART R3 for JWKS URLs). A 2xx body that is not JSON is an
   * OutboundError('invalid-response'); the parser's message is not passed on.
   */
  fetchJson(url: string, init?: Omit<OutboundRequest, 'method' | 'body'>): Promise<OutboundJsonResponse>;
  close(): Promise<void>;
}

type AddressClass = 'public' | 'loopback' | 'private' | 'blocked';

const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

const PRIVATE = new net.BlockList();
for (const [a, p] of [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16]] as const) PRIVATE.addSubnet(a, p, 'ipv4');
PRIVATE.addSubnet('fc00::', 7, 'ipv6'); // unique local

/** Never reachable, whatever the options: link-local (cloud metadata), unspecified, CGNAT, multicast, reserved, documentation, and IPv6 forms that embed an IPv4 address. */
const BLOCKED = new net.BlockList();
for (const [a, p] of [
  ['0.0.0.0', 8], ['100.64.0.0', 10], ['169.254.0.0', 16], ['192.0.0.0', 24], ['192.0.2.0', 24],
  ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) BLOCKED.addSubnet(a, p, 'ipv4');
for (const [a, p] of [
  ['::', 96], // unspecified and IPv4-compatible (deprecated) addresses
  ['64:ff9b::', 96], ['64:ff9b:1::', 48], // NAT64: would reach an embedded IPv4 address
  ['100::', 64], ['2001:db8::', 32], ['2002::', 16], // discard, documentation, 6to4
  ['fe80::', 10], ['fec0::', 10], ['ff00::', 8], // link-local, site-local, multicast
] as const) BLOCKED.addSubnet(a, p, 'ipv6');

/** Classifies an IP address (IPv4-mapped IPv6 is matched against the IPv4 ranges by BlockList). */
export function classifyAddress(ip: string): AddressClass {
  const family = net.isIP(ip);
  if (!family) return 'blocked';
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (LOOPBACK.check(ip, type)) return 'loopback';
  if (BLOCKED.check(ip, type)) return 'blocked';
  if (PRIVATE.check(ip, type)) return 'private';
  return 'public';
}

interface Policy {
  allowInsecureLoopback: boolean;
  loopbackPorts: ReadonlySet<number> | undefined;
  allowPrivateNetworks: boolean;
}

/** Why `ip:port` may not be connected to, or undefined when it may. */
function refusal(ip: string, port: number, policy: Policy): string | undefined {
  switch (classifyAddress(ip)) {
    case 'public': return undefined;
    case 'private': return policy.allowPrivateNetworks ? undefined : 'private network address';
    case 'loopback':
      if (!policy.allowInsecureLoopback) return 'loopback address';
      if (policy.loopbackPorts && !policy.loopbackPorts.has(port)) return 'loopback port not allowed';
      return undefined;
    default: return 'reserved or link-local address';
  }
}

const BLOCKED_CODE = 'FXG_OUTBOUND_BLOCKED';

/**
 * A `lookup` for net/tls.connect that resolves, refuses the whole name if any address is not
 * allowed, and hands the checked addresses to the socket, so what was checked is what is connected.
 */
function guardedLookup(policy: Policy, port: number): net.LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { all: true, family: options.family ?? 0, hints: options.hints }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const list = addresses as dns.LookupAddress[];
      const bad = list.find((a) => refusal(a.address, port, policy) !== undefined);
      if (bad || !list.length) {
        const e = Object.assign(new Error(`destination resolves to a ${bad ? refusal(bad.address, port, policy) : 'nothing'}`), {
          code: BLOCKED_CODE,
        });
        return callback(e, '', 0);
      }
      if (options.all) return (callback as (e: null, a: dns.LookupAddress[]) => void)(null, list);
      callback(null, list[0]!.address, list[0]!.family);
    });
  };
}

function defaultPort(url: URL): number {
  return url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}

/** Checks scheme, userinfo and literal IP hosts before any socket is opened. */
function checkUrl(raw: string, policy: Policy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new OutboundError('blocked', 'invalid URL');
  }
  if (url.username || url.password) throw new OutboundError('blocked', 'URLs with credentials are refused');
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const literal = net.isIP(host) !== 0;
  if (url.protocol === 'http:') {
    const loopbackName = host === 'localhost';
    if (!policy.allowInsecureLoopback || !(loopbackName || (literal && classifyAddress(host) === 'loopback'))) {
      throw new OutboundError('blocked', 'only https URLs are allowed');
    }
  } else if (url.protocol !== 'https:') {
    throw new OutboundError('blocked', 'only https URLs are allowed');
  }
  if (literal) {
    const why = refusal(host, defaultPort(url), policy);
    if (why) throw new OutboundError('blocked', `destination is a ${why}`);
  }
  return url;
}

function isTimeout(err: unknown): boolean {
  const code = (err as { code?: string } | undefined)?.code;
  return code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
}

function isBlocked(err: unknown): boolean {
  for (let e: unknown = err, i = 0; e && i < 5; e = (e as { cause?: unknown }).cause, i++) {
    if ((e as { code?: string }).code === BLOCKED_CODE) return true;
  }
  return false;
}

/**
 * Creates the outbound client. One undici Agent (connection pool) per client; close() releases it.
 */
export function createOutboundClient(options: OutboundOptions = {}): OutboundClient {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxResponseBytes = options.maxBytes ?? 20 * 1024 * 1024;
  const policy: Policy = {
    allowInsecureLoopback: options.allowInsecureLoopback ?? false,
    loopbackPorts: options.loopbackPorts ? new Set(options.loopbackPorts) : undefined,
    allowPrivateNetworks: options.allowPrivateNetworks ?? false,
  };
  // The loopback port allow-list needs the port in the DNS guard, so there is one connector per
  // destination port (each keeps its own TLS session cache).
  const connectors = new Map<number, buildConnector.connector>();
  const connect: buildConnector.connector = (opts, callback) => {
    const port = Number(opts.port) || (opts.protocol === 'https:' ? 443 : 80);
    let connector = connectors.get(port);
    if (!connector) {
      connector = buildConnector({
        timeout: options.connectTimeoutMs ?? 3_000,
        minVersion: 'TLSv1.2',
        lookup: guardedLookup(policy, port),
      });
      connectors.set(port, connector);
    }
    connector(opts, callback);
  };
  const ownAgent = options.dispatcher
    ? undefined
    : new Agent({ connect, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  const dispatcher = options.dispatcher ?? ownAgent!;

  async function send(rawUrl: string, init: OutboundRequest = {}): Promise<OutboundResponse> {
    const url = checkUrl(rawUrl, policy);
    const deadline = Math.min(init.timeoutMs ?? timeoutMs, timeoutMs);
    const cap = Math.min(init.maxBytes ?? maxResponseBytes, maxResponseBytes);
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), deadline);
    try {
      const res = await request(url, {
        method: init.method ?? 'GET',
        headers: { 'user-agent': options.userAgent ?? 'fhir-exchange-gateway', ...init.headers },
        body: init.body,
        dispatcher,
        signal: abort.signal,
        headersTimeout: deadline,
        bodyTimeout: deadline,
      });
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > cap) {
        res.body.destroy();
        throw new OutboundError('too-large', `response larger than ${cap} bytes`);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        if (size > cap) {
          res.body.destroy();
          throw new OutboundError('too-large', `response larger than ${cap} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
      return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks, size) };
    } catch (err) {
      if (err instanceof OutboundError) throw err;
      if (abort.signal.aborted || isTimeout(err)) throw new OutboundError('timeout', `no complete response within ${deadline} ms`, { cause: err });
      if (isBlocked(err)) throw new OutboundError('blocked', 'destination address is not allowed', { cause: err });
      throw new OutboundError('network', 'request failed', { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  async function fetchJson(url: string, init: Omit<OutboundRequest, 'method' | 'body'> = {}): Promise<OutboundJsonResponse> {
    const res = await send(url, { ...init, method: 'GET', headers: { accept: 'application/json', ...init.headers } });
    if (res.status < 200 || res.status > 299) return { status: res.status, headers: res.headers, json: undefined };
    try {
      return { status: res.status, headers: res.headers, json: JSON.parse(Buffer.from(res.body).toString('utf8')) as unknown };
    } catch {
      throw new OutboundError('invalid-response', 'response body is not JSON');
    }
  }

  return {
    request: send,
    get: (url, init) => send(url, { ...init, method: 'GET' }),
    fetchJson,
    close: async () => { await ownAgent?.close(); },
  };
}
