/**
 * The FHIR layer's coded errors (stable GW_* codes). Messages echo only what the caller sent
 * (parameter names, ids it asked for), never stored data.
 * See: https://hl7.org/fhir/R4/http.html#Status-Codes and https://hl7.org/fhir/R4/search.html#errors
 */
import { GW_CODE_SYSTEM, OutcomeError, type OutcomeIssue } from '../core/outcome.js';

/** Longest caller text echoed back in an error message. */
const ECHO_MAX = 64;
/** Echoes caller input safely: truncated, control characters shown as `?`. */
export const echo = (s: string): string => {
  // eslint-disable-next-line no-control-regex
  const clean = s.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > ECHO_MAX ? `${clean.slice(0, ECHO_MAX)}…` : clean;
};

export const unknownPath = () => new OutcomeError(404, 'not-found', 'GW_UNKNOWN_PATH', 'no such FHIR endpoint');

export const unsupportedType = (type: string) =>
  new OutcomeError(404, 'not-supported', 'GW_UNSUPPORTED_RESOURCE_TYPE', `resource type ${echo(type)} is not supported`);

export const invalidId = (what = 'id') =>
  new OutcomeError(400, 'invalid', 'GW_INVALID_ID', `${what} is not a valid FHIR id ([A-Za-z0-9-.]{1,64})`);

export const methodNotAllowed = (allowed: readonly string[]) =>
  new OutcomeError(405, 'not-supported', 'GW_METHOD_NOT_ALLOWED', `method not allowed here; allowed: ${allowed.join(', ')}`, {
    headers: { allow: allowed.join(', ') },
  });

export const unknownParam = (name: string) =>
  new OutcomeError(400, 'not-supported', 'GW_UNKNOWN_PARAMETER', `unknown or unsupported search parameter ${echo(name)}`);

export const unsupportedModifier = (name: string, modifier: string) =>
  new OutcomeError(400, 'not-supported', 'GW_UNSUPPORTED_MODIFIER',
    `modifier :${echo(modifier)} is not supported on search parameter ${echo(name)}`);

export const invalidParamValue = (name: string, why: string) =>
  new OutcomeError(400, 'invalid', 'GW_INVALID_PARAMETER_VALUE', `invalid value for ${echo(name)}: ${why}`);

export const searchNotSupported = (what: string) =>
  new OutcomeError(400, 'not-supported', 'GW_SEARCH_NOT_SUPPORTED', `${what} is not supported`);

export const unsupported = (what: string) =>
  new OutcomeError(400, 'not-supported', 'GW_NOT_SUPPORTED', `${what} is not supported`);

export const tooManyIncludes = (max: number) =>
  new OutcomeError(422, 'too-costly', 'GW_TOO_COSTLY', `at most ${max} _include/_revinclude parameters are allowed`);

export const bundleTooLarge = (max: number) =>
  new OutcomeError(413, 'too-costly', 'GW_BUNDLE_TOO_LARGE', `a Bundle may carry at most ${max} entries`);

export const invalidBody = (why: string) => new OutcomeError(400, 'invalid', 'GW_INVALID_BODY', why);

export const idMismatch = () =>
  new OutcomeError(400, 'invalid', 'GW_ID_MISMATCH', 'the resource id must be present and equal the id in the URL');

export const invalidIfMatch = () =>
  new OutcomeError(400, 'invalid', 'GW_INVALID_IF_MATCH', 'If-Match must be a weak ETag such as W/"3"');

export const writeForbidden = (interaction: string) =>
  new OutcomeError(403, 'forbidden', 'GW_WRITE_FORBIDDEN', `the token may not ${interaction} this resource`);

export const multipleMatches = () =>
  new OutcomeError(412, 'multiple-matches', 'GW_MULTIPLE_MATCHES', 'the conditional create criteria match more than one resource');

/** Issue codes for a validation report get the GW code too, so clients can branch on it. */
export const codedIssue = (issue: OutcomeIssue, code: string): OutcomeIssue => ({
  ...issue,
  details: { coding: [{ system: GW_CODE_SYSTEM, code }], text: issue.details?.text ?? issue.diagnostics ?? '' },
});
