import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiErrorBody } from '@parley/protocol';
import { ParleyError } from '../errors.js';

interface AjvIssue {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** Turns a schema-validation failure into the one error shape, naming the field. */
function validationBody(
  error: FastifyError & { validation: AjvIssue[]; validationContext?: string },
): ApiErrorBody {
  const issue = error.validation[0] as AjvIssue;
  const segments = issue.instancePath.split('/').filter(Boolean);
  if (issue.keyword === 'required' && typeof issue.params['missingProperty'] === 'string') {
    segments.push(issue.params['missingProperty']);
  }
  if (issue.keyword === 'additionalProperties' && typeof issue.params['additionalProperty'] === 'string') {
    segments.push(issue.params['additionalProperty']);
    const field = segments.join('.');
    return {
      code: 'VALIDATION_FAILED',
      field,
      reason: 'UNKNOWN_FIELD',
      message: `${field} is not a known field`,
    };
  }
  const field = segments.join('.') || (error.validationContext ?? 'body');
  if (issue.keyword === 'maxLength' && typeof issue.params['limit'] === 'number') {
    // Worded as the shared validators word it (checkName …), so the API and the console agree.
    const limit = issue.params['limit'];
    return {
      code: 'VALIDATION_FAILED',
      field,
      reason: 'TOO_LONG',
      message: `${field} must be at most ${limit} characters`,
    };
  }
  const reason = issue.keyword === 'required' ? 'REQUIRED' : issue.keyword.toUpperCase();
  const message =
    issue.keyword === 'required' ? `${field} is required` : `${field} ${issue.message ?? 'is invalid'}`;
  return { code: 'VALIDATION_FAILED', field, reason, message };
}

export function errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  if (error instanceof ParleyError) {
    void reply.status(error.status).headers(error.headers).send(error.toBody());
    return;
  }
  const withValidation = error as FastifyError & { validation?: AjvIssue[]; validationContext?: string };
  if (withValidation.validation && withValidation.validation.length > 0) {
    void reply.status(400).send(validationBody(withValidation as FastifyError & { validation: AjvIssue[] }));
    return;
  }
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    void reply.status(413).send({ code: 'PAYLOAD_TOO_LARGE', message: 'The request body is too large.' });
    return;
  }
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
    void reply.status(error.statusCode).send({ code: 'BAD_REQUEST', message: error.message });
    return;
  }
  request.log.error({ err: error }, 'unhandled error');
  void reply.status(500).send({ code: 'INTERNAL', message: 'Internal server error.' });
}
