/**
 * Test helpers for the SMART authorization server: client keys, client assertions built exactly as
 * the Inferno kit builds them (typ JWT, iss = sub = client_id, aud = token URL, exp = now + 5 min,
 * jti), and a local JWKS server that counts its hits.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, CompactSign, type CryptoKey, type JWK } from 'jose';
import type { AuthEvent } from '../../src/auth/token-endpoint.js';
import type { Logger } from '../../src/core/logger.js';

export const BASE_URL = 'https://gw.test';
export const TOKEN_URL = `${BASE_URL}/auth/token`;
export const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface ClientKey {
  alg: 'RS384' | 'ES384' | 'RS256' | 'PS256';
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function makeClientKey(alg: ClientKey['alg'] = 'ES384', kid = `k-${randomUUID().slice(0, 8)}`): Promise<ClientKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid };
  return { alg, kid, privateKey, publicJwk };
}

export interface AssertionOptions {
  clientId: string;
  key: ClientKey;
  nowSeconds: number;
  /** Replaces (or with undefined, removes) header members. */
  header?: Record<string, unknown>;
  /** Replaces (or with undefined, removes) claims. */
  claims?: Record<string, unknown>;
}

/** A client assertion; header/claims overrides let a test break exactly one rule. */
export async function signAssertion(o: AssertionOptions): Promise<string> {
  const header: Record<string, unknown> = { alg: o.key.alg, kid: o.key.kid, typ: 'JWT', ...o.header };
  const claims: Record<string, unknown> = {
    iss: o.clientId, sub: o.clientId, aud: TOKEN_URL, exp: o.nowSeconds + 300, jti: randomUUID(), ...o.claims,
  };
  for (const k of Object.keys(header)) if (header[k] === undefined) delete header[k];
  for (const k of Object.keys(claims)) if (claims[k] === undefined) delete claims[k];
  return new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
    .setProtectedHeader(header as { alg: string })
    .sign(o.key.privateKey);
}

/** An unsecured JWT (alg none), which jose will not produce. */
export function unsecuredJwt(header: Record<string, unknown>, claims: Record<string, unknown>): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${b64(header)}.${b64(claims)}.`;
}

/** Signs an arbitrary JWT with SignJWT (for tokens of other kinds: ID tokens, foreign access tokens). */
export async function signJwt(key: CryptoKey, header: Record<string, unknown> & { alg: string }, claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader(header).sign(key);
}

export function tokenForm(fields: Record<string, string | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) p.append(k, v);
  return p.toString();
}

/** Records AuthEvents so tests can assert the precise reason behind a deliberately vague error body. */
export function eventLog(): { events: AuthEvent[]; onEvent: (e: AuthEvent) => void; lastRejection(): string | undefined } {
  const events: AuthEvent[] = [];
  return {
    events,
    onEvent: (e) => events.push(e),
    lastRejection: () => {
      for (let i = events.length - 1; i >= 0; i--) {
        const e = events[i]!;
        if (e.type === 'token.rejected') return e.reason;
      }
      return undefined;
    },
  };
}

/** A Logger that keeps every line (to prove no token or assertion is ever logged). */
export function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const make = (bindings: object): Logger & { lines: string[] } => {
    const write = (level: string) => (obj: object, msg?: string) => {
      lines.push(JSON.stringify({ level, ...bindings, ...obj, msg }, (_k, v: unknown) => (v instanceof Error ? { name: v.name, message: v.message } : v)));
    };
    return {
      lines,
      debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error'),
      child: (b: object) => make({ ...bindings, ...b }),
    };
  };
  return make({});
}

export interface JwksServer {
  url: string;
  port: number;
  hits: number;
  /** What the next responses carry. */
  set(body: unknown, headers?: Record<string, string>, status?: number): void;
  close(): Promise<void>;
}

/** A JWKS endpoint on 127.0.0.1 that counts hits (catalogue T-09: the jku mock must see 0 hits). */
export async function startJwksServer(initial: unknown = { keys: [] }, headers: Record<string, string> = {}): Promise<JwksServer> {
  let body = initial;
  let extra = headers;
  let status = 200;
  const state = { hits: 0 };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    state.hits++;
    req.resume();
    res.writeHead(status, { 'content-type': 'application/json', ...extra });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/jwks`,
    port,
    get hits() { return state.hits; },
    set hits(v: number) { state.hits = v; },
    set(b, h = {}, s = 200) { body = b; extra = h; status = s; },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
