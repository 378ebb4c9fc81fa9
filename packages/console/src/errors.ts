/**
 * Turning API errors and shared field issues into localized text. Field messages come from the
 * same validators the server uses (@parley/protocol), keyed by their machine-readable reason.
 */
import type { FieldIssue } from '@parley/protocol';
import { ApiError, isApiError } from './api';
import { isMessageKey, type Translate } from './i18n';

const idFields = new Set(['workspaceId', 'appId']);

/** Localized text for a field issue (from a validator, or a server 400 with `field` and `reason`). */
export function fieldIssueText(
  t: Translate,
  issue: { field: string; reason?: string; message: string },
): string {
  const reason = issue.reason ?? '';
  const field = lastSegment(issue.field);
  const key =
    reason === 'BAD_CHARACTERS' && idFields.has(field)
      ? 'reason.BAD_CHARACTERS_ID'
      : reason === 'INVALID' && field === 'recordMediaType'
        ? 'reason.INVALID_MEDIA_TYPE'
        : `reason.${reason}`;
  if (!isMessageKey(key)) return issue.message;
  // The shared validators put the offending value in quotes and the limit as the only number; a
  // range (OUT_OF_RANGE) as "from <min> to <max>".
  const value = /"([^"]*)"/.exec(issue.message)?.[1] ?? '';
  const numbers = issue.message.match(/\d+/g) ?? [];
  const min = numbers[0] ?? '';
  const max = (reason === 'OUT_OF_RANGE' ? numbers[numbers.length - 1] : numbers[0]) ?? '';
  return t(key, { value, min, max });
}

export function fieldIssueFromError(error: unknown): (FieldIssue & { field: string }) | null {
  if (!(error instanceof ApiError) || error.field === undefined) return null;
  return {
    field: lastSegment(error.field),
    reason: (error.reason ?? '') as FieldIssue['reason'],
    message: error.message,
  };
}

/** `config.proxyAddress` and `/config/proxyAddress` both name the form field `proxyAddress`. */
export function lastSegment(field: string): string {
  const parts = field.split(/[./]/).filter((p) => p !== '');
  return parts[parts.length - 1] ?? field;
}

export function formatDuration(t: Translate, seconds: number): string {
  return seconds < 120
    ? t('common.seconds', { n: seconds })
    : t('common.minutes', { n: Math.ceil(seconds / 60) });
}

/** A message for any error thrown by an API call. */
export function errorText(t: Translate, error: unknown): string {
  if (error instanceof ApiError) {
    if (error.code === 'NETWORK') return t('common.networkError');
    if (error.code === 'LOGIN_RATE_LIMITED' && error.retryAfter !== undefined) {
      return t('login.rateLimited', { time: formatDuration(t, error.retryAfter) });
    }
    if (error.code === 'VALIDATION_FAILED' && error.field !== undefined) {
      return `${t('err.VALIDATION_FAILED')} ${lastSegment(error.field)}: ${fieldIssueText(t, {
        field: error.field,
        reason: error.reason,
        message: error.message,
      })}`;
    }
    return t(`err.${error.code}`);
  }
  return t('common.unexpected', { code: error instanceof Error ? error.message : String(error) });
}

export function isNotFound(error: unknown): boolean {
  return (
    isApiError(error, 'CALL_APP_NOT_FOUND') ||
    isApiError(error, 'APP_NOT_FOUND') ||
    isApiError(error, 'WORKSPACE_NOT_FOUND')
  );
}
