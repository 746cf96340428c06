/**
 * Building blocks of FHIR responses: fullUrls, version headers and paging links. Every URL is built
 * from the configured public FHIR base, never from the request's Host header.
 * See: https://hl7.org/fhir/R4/http.html#versioning, https://hl7.org/fhir/R4/bundle.html#bundle-unique,
 * https://hl7.org/fhir/R4/http.html#paging
 */
import type { BundleLink, Resource } from '@medplum/fhirtypes';

export const trimBase = (fhirBase: string) => fhirBase.replace(/\/+$/, '');

/** `{base}/{type}/{id}`: the identity of a resource in a Bundle entry. */
export const fullUrl = (fhirBase: string, r: { resourceType: string; id?: string }) =>
  `${trimBase(fhirBase)}/${r.resourceType}/${r.id ?? ''}`;

/** `{base}/{type}/{id}/_history/{vid}`: the Location of a write. */
export const versionUrl = (fhirBase: string, r: Resource) =>
  `${fullUrl(fhirBase, r)}/_history/${r.meta?.versionId ?? ''}`;

export const weakEtag = (versionId: string | undefined) => `W/"${versionId ?? ''}"`;

/** ETag and Last-Modified for a resource version. */
export function versionHeaders(r: Resource): Record<string, string> {
  const headers: Record<string, string> = {};
  if (r.meta?.versionId) headers.etag = weakEtag(r.meta.versionId);
  if (r.meta?.lastUpdated) headers['last-modified'] = new Date(r.meta.lastUpdated).toUTCString();
  return headers;
}

/** Reads the version out of `If-Match: W/"3"` (a strong `"3"` is accepted too); undefined when malformed. */
export function parseIfMatch(header: string): string | undefined {
  const m = /^\s*(?:W\/)?"([A-Za-z0-9\-.]{1,64})"\s*$/.exec(header);
  return m?.[1];
}

/** Query string of `params`, each name and value percent-encoded (`:` and `,` kept readable). */
export function queryString(params: ReadonlyArray<readonly [string, string]>): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%3A/gi, ':').replace(/%2C/gi, ',');
  return params.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&');
}

export interface PageLinkInput {
  /** Absolute URL of the endpoint without a query: `{base}/Observation`. */
  url: string;
  /** Normalized parameters (no _count/_offset). */
  params: ReadonlyArray<readonly [string, string]>;
  count: number;
  offset: number;
  hasMore: boolean;
}

/** self, next and previous links for offset paging; `_count` shows the clamped page size. */
export function pageLinks(p: PageLinkInput): BundleLink[] {
  const at = (offset: number) => {
    const params: Array<readonly [string, string]> = [...p.params, ['_count', String(p.count)]];
    if (offset > 0) params.push(['_offset', String(offset)]);
    return `${p.url}?${queryString(params)}`;
  };
  const links: BundleLink[] = [{ relation: 'self', url: at(p.offset) }];
  if (p.hasMore && p.count > 0) links.push({ relation: 'next', url: at(p.offset + p.count) });
  if (p.offset > 0 && p.count > 0) links.push({ relation: 'previous', url: at(Math.max(0, p.offset - p.count)) });
  return links;
}
