import { errorCatalogue, type ApiErrorBody, type ErrorCode, type FieldIssue } from '@parley/protocol';

/** An error with a stable code from the catalogue; the HTTP layer turns it into the one error shape. */
export class ParleyError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly field: string | undefined;
  readonly reason: string | undefined;
  readonly headers: Record<string, string>;

  constructor(
    code: ErrorCode,
    opts: { message?: string; field?: string; reason?: string; headers?: Record<string, string> } = {},
  ) {
    const entry = errorCatalogue[code];
    super(opts.message ?? entry.message);
    this.name = 'ParleyError';
    this.code = code;
    this.status = entry.status;
    this.field = opts.field;
    this.reason = opts.reason;
    this.headers = opts.headers ?? {};
  }

  toBody(): ApiErrorBody {
    const body: ApiErrorBody = { code: this.code, message: this.message };
    if (this.field !== undefined) body.field = this.field;
    if (this.reason !== undefined) body.reason = this.reason;
    return body;
  }
}

/** A 400 for one field, the message starting with the field name so it reads on its own. */
export function fieldError(field: string, message: string, reason?: string): ParleyError {
  return new ParleyError('VALIDATION_FAILED', {
    field,
    message: `${field} ${message}`,
    ...(reason ? { reason } : {}),
  });
}

/** Throws the 400 for a shared validator's issue (checkName, checkId, ...), if there is one. */
export function rejectIssue(issue: FieldIssue | null): void {
  if (issue) throw fieldError(issue.field, issue.message, issue.reason);
}
