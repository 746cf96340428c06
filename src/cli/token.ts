/**
 * `fxg token`: the client side of SMART Backend Services, for trying the gateway with curl.
 * Builds the client assertion exactly as SMART requires (typ JWT, iss = sub = client_id,
 * aud = token URL, exp = now + 5 min at most, unique jti) and posts it.
 * See: https://hl7.org/fhir/smart-app-launch/backend-services.html
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { importJWK, SignJWT, type JWK } from 'jose';

export async function buildClientAssertion(o: { clientId: string; tokenUrl: string; jwk: JWK; purposeOfUse?: string; nowSeconds?: number }): Promise<string> {
  if (!o.jwk.kid || !o.jwk.alg) throw new Error('the private JWK needs kid and alg (RS384 or ES384)');
  const key = await importJWK(o.jwk, o.jwk.alg);
  const now = o.nowSeconds ?? Math.floor(Date.now() / 1000);
  const jwt = new SignJWT(o.purposeOfUse ? { extensions: { 'hl7-b2b': { version: '1', purpose_of_use: [o.purposeOfUse] } } } : {})
    .setProtectedHeader({ alg: o.jwk.alg, kid: o.jwk.kid, typ: 'JWT' })
    .setIssuer(o.clientId).setSubject(o.clientId).setAudience(o.tokenUrl)
    .setIssuedAt(now).setExpirationTime(now + 240).setJti(randomUUID());
  return jwt.sign(key);
}

export async function requestToken(o: { baseUrl: string; clientId: string; keyFile: string; scope: string; purposeOfUse?: string }): Promise<string> {
  let jwk: JWK;
  try { jwk = JSON.parse(readFileSync(o.keyFile, 'utf8')) as JWK; } catch { throw new Error(`cannot read a JSON private JWK from ${o.keyFile}`); }
  const tokenUrl = `${o.baseUrl}/auth/token`;
  const assertion = await buildClientAssertion({ clientId: o.clientId, tokenUrl, jwk, purposeOfUse: o.purposeOfUse });
  const res = await fetch(tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({
      grant_type: 'client_credentials', scope: o.scope,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion,
    }),
  });
  const body = (await res.json().catch(() => ({}))) as { access_token?: string; error?: string; error_description?: string };
  if (!res.ok || !body.access_token) throw new Error(`token request failed (${res.status}): ${body.error ?? ''} ${body.error_description ?? ''}`.trim());
  return body.access_token;
}
