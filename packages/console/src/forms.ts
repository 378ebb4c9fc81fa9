import type { FormInstance } from 'antd';
import type { FieldIssue } from '@parley/protocol';
import type { Translate } from './i18n';
import { fieldIssueFromError, fieldIssueText } from './errors';

interface Rule {
  validator: (rule: unknown, value: unknown) => Promise<void>;
}

/** An antd Form rule running one of the shared validators from @parley/protocol. */
export function sharedRule(t: Translate, check: (value: string) => FieldIssue | null): Rule {
  return {
    validator: (_rule, value) => {
      const issue = check(typeof value === 'string' ? value : '');
      return issue ? Promise.reject(new Error(fieldIssueText(t, issue))) : Promise.resolve();
    },
  };
}

/**
 * Shows a server 400/403 that names a field on that form field. Returns false when the error
 * is not about one of `fields` (the caller then shows it another way).
 */
export function showServerFieldError(
  form: FormInstance,
  t: Translate,
  error: unknown,
  fields: readonly string[],
  override?: string,
): boolean {
  const issue = fieldIssueFromError(error);
  if (!issue || !fields.includes(issue.field)) return false;
  form.setFields([{ name: issue.field, errors: [override ?? fieldIssueText(t, issue)] }]);
  return true;
}
