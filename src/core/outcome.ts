/**
 * One error type for the whole gateway. FHIR routes render it as an OperationOutcome,
 * OAuth routes as an RFC 6749 error. `code` is a stable GW_* string; `issue` a FHIR IssueType.
 * See: https://hl7.org/fhir/R4/valueset-issue-type.html
 */
export type IssueType =
  | 'invalid' | 'structure' | 'required' | 'value' | 'invariant' | 'security' | 'login' | 'unknown'
  | 'expired' | 'forbidden' | 'suppressed' | 'processing' | 'not-supported' | 'duplicate'
  | 'multiple-matches' | 'not-found' | 'deleted' | 'too-long' | 'code-invalid' | 'extension'
  | 'too-costly' | 'business-rule' | 'conflict' | 'transient' | 'lock-error' | 'no-store'
  | 'exception' | 'timeout' | 'incomplete' | 'throttled' | 'informational';

export interface OutcomeIssue {
  severity: 'fatal' | 'error' | 'warning' | 'information';
  code: IssueType;
  details?: { coding?: Array<{ system?: string; code: string }>; text?: string };
  diagnostics?: string;
  expression?: string[];
}

export interface OperationOutcome {
  resourceType: 'OperationOutcome';
  issue: OutcomeIssue[];
}

export const GW_CODE_SYSTEM = 'https://fhir-exchange-gateway.dev/CodeSystem/error-code';

export class OutcomeError extends Error {
  readonly headers: Record<string, string>;
  constructor(
    readonly status: number,
    readonly issue: IssueType,
    readonly code: string,
    message: string,
    options?: { cause?: unknown; issues?: OutcomeIssue[]; headers?: Record<string, string>; oauthError?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OutcomeError';
    this.extraIssues = options?.issues;
    this.headers = options?.headers ?? {};
    this.oauthError = options?.oauthError;
  }
  /** Additional issues (validation reports list every problem with its location). */
  readonly extraIssues: OutcomeIssue[] | undefined;
  /** RFC 6749 error code when this error is raised on an OAuth route. */
  readonly oauthError: string | undefined;
  get expose(): boolean {
    return this.status < 500 || this.status === 503 || this.status === 504 || this.status === 502;
  }

  toOutcome(requestId?: string): OperationOutcome {
    if (this.extraIssues?.length) return { resourceType: 'OperationOutcome', issue: this.extraIssues };
    return {
      resourceType: 'OperationOutcome',
      issue: [{
        severity: 'error',
        code: this.issue,
        details: {
          coding: [{ system: GW_CODE_SYSTEM, code: this.code }],
          text: this.status < 500 || this.expose ? this.message : `request ${requestId ?? ''} failed`,
        },
      }],
    };
  }
}

export const badRequest = (message: string, code = 'GW_INVALID', issue: IssueType = 'invalid') =>
  new OutcomeError(400, issue, code, message);
export const notSupported = (message: string) => new OutcomeError(400, 'not-supported', 'GW_NOT_SUPPORTED', message);
export const unsupportedMediaType = (message: string) =>
  new OutcomeError(415, 'not-supported', 'GW_UNSUPPORTED_MEDIA_TYPE', message);
export const forbidden = (message: string, code = 'GW_FORBIDDEN') => new OutcomeError(403, 'forbidden', code, message);
export const notFound = (ref: string) => new OutcomeError(404, 'not-found', 'GW_NOT_FOUND', `${ref} not found`);
export const gone = (ref: string) => new OutcomeError(410, 'deleted', 'GW_GONE', `${ref} was deleted`);
export const conflict = (message: string, code = 'GW_CONFLICT') => new OutcomeError(409, 'conflict', code, message);
export const preconditionFailed = (message: string) =>
  new OutcomeError(412, 'conflict', 'GW_VERSION_CONFLICT', message);
export const tooLarge = (message: string) => new OutcomeError(413, 'too-long', 'GW_TOO_LARGE', message);
export const unavailable = (message: string, code = 'GW_UNAVAILABLE', retryAfterSeconds = 1) =>
  new OutcomeError(503, 'transient', code, message, { headers: { 'retry-after': String(retryAfterSeconds) } });
export const throttled = (retryAfterSeconds: number) =>
  new OutcomeError(429, 'throttled', 'GW_THROTTLED', 'Too Many Requests', {
    headers: { 'retry-after': String(retryAfterSeconds) },
  });

/** OAuth (RFC 6749 §5.2) error; rendered as { error, error_description } on OAuth routes. */
export const oauthError = (status: number, error: string, description: string) =>
  new OutcomeError(status, status === 401 ? 'login' : 'invalid', `GW_OAUTH_${error.toUpperCase()}`, description, {
    oauthError: error,
  });

/** An issue for a validation report. */
export const issue = (
  code: IssueType,
  text: string,
  expression?: string,
  severity: OutcomeIssue['severity'] = 'error',
): OutcomeIssue => ({ severity, code, details: { text }, ...(expression ? { expression: [expression] } : {}) });
