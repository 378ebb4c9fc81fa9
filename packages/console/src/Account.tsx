/**
 * The signed-in user's own account, from the user menu: change the password, sign out
 * everywhere. Field rules match the server's (passwordMinLength from @parley/protocol); the
 * server's answers about a field are shown on that field.
 */
import { useState } from 'react';
import type { ReactNode } from 'react';
import { App as AntApp, Checkbox, Form, Input, Modal, Typography } from 'antd';
import { passwordMinLength } from '@parley/protocol';
import { api, isApiError } from './api';
import { errorText } from './errors';
import { showServerFieldError } from './forms';
import { useI18n } from './i18n';
import { useSession } from './session';
import { FormModal } from './components';
import { tid } from './util';

interface PasswordValues {
  currentPassword: string;
  newPassword: string;
  confirmPassword: string;
}

export function ChangePasswordModal(props: { open: boolean; onClose: () => void }): ReactNode {
  const { t } = useI18n();
  const { message } = AntApp.useApp();
  const [form] = Form.useForm<PasswordValues>();

  /** The server's field answers, in the words of this form. */
  const showOnField = (error: unknown): boolean => {
    if (isApiError(error, 'REAUTH_FAILED'))
      return showServerFieldError(form, t, error, ['currentPassword'], t('account.wrongCurrent'));
    if (isApiError(error, 'VALIDATION_FAILED')) {
      const text =
        error.reason === 'TOO_SHORT'
          ? t('account.newTooShort', { min: passwordMinLength })
          : error.reason === 'SAME_AS_CURRENT'
            ? t('account.sameAsCurrent')
            : undefined;
      return showServerFieldError(form, t, error, ['newPassword'], text);
    }
    return false;
  };

  return (
    <FormModal<PasswordValues, { sessionsEnded: number }>
      open={props.open}
      title={t('account.changePassword')}
      okText={t('common.save')}
      okTestId="change-password-ok"
      form={form}
      submit={(values) =>
        api.changePassword({ currentPassword: values.currentPassword, newPassword: values.newPassword })
      }
      onDone={(result) => void message.success(t('account.passwordChanged', { n: result.sessionsEnded }))}
      showOnField={showOnField}
      onClose={props.onClose}
    >
      <Form.Item
        name="currentPassword"
        label={t('account.currentPassword')}
        rules={[{ required: true, message: t('account.currentRequired') }]}
      >
        <Input.Password autoFocus autoComplete="current-password" data-testid="current-password" />
      </Form.Item>
      <Form.Item
        name="newPassword"
        label={t('account.newPassword')}
        dependencies={['currentPassword']}
        rules={[
          {
            required: true,
            min: passwordMinLength,
            message: t('account.newTooShort', { min: passwordMinLength }),
          },
          ({ getFieldValue }) => ({
            validator: (_rule, value: unknown) =>
              value && value === getFieldValue('currentPassword')
                ? Promise.reject(new Error(t('account.sameAsCurrent')))
                : Promise.resolve(),
          }),
        ]}
      >
        <Input.Password autoComplete="new-password" data-testid="new-password" />
      </Form.Item>
      <Form.Item
        name="confirmPassword"
        label={t('account.confirmPassword')}
        dependencies={['newPassword']}
        rules={[
          ({ getFieldValue }) => ({
            validator: (_rule, value: unknown) =>
              value === getFieldValue('newPassword')
                ? Promise.resolve()
                : Promise.reject(new Error(t('account.confirmMismatch'))),
          }),
        ]}
      >
        <Input.Password autoComplete="new-password" data-testid="confirm-password" />
      </Form.Item>
    </FormModal>
  );
}

export function SignOutEverywhereModal(props: { open: boolean; onClose: () => void }): ReactNode {
  const { t } = useI18n();
  const { message } = AntApp.useApp();
  const { logout } = useSession();
  const [revokeTokens, setRevokeTokens] = useState(false);
  const [busy, setBusy] = useState(false);

  const confirm = async (): Promise<void> => {
    setBusy(true);
    try {
      await api.signOutEverywhere({ revokeTokens });
    } catch (error) {
      void message.error(errorText(t, error));
      setBusy(false);
      return;
    }
    setBusy(false);
    props.onClose();
    await logout(); // this session ended too: back to the sign-in page
  };

  return (
    <Modal
      open={props.open}
      title={t('account.signOutEverywhere')}
      okText={t('account.signOutEverywhere')}
      okButtonProps={{ danger: true, ...tid('sign-out-everywhere-ok') }}
      cancelText={t('common.cancel')}
      confirmLoading={busy}
      onOk={() => void confirm()}
      onCancel={props.onClose}
      destroyOnHidden
    >
      <Typography.Paragraph>{t('account.signOutEverywhereBody')}</Typography.Paragraph>
      <Checkbox
        checked={revokeTokens}
        onChange={(e) => setRevokeTokens(e.target.checked)}
        data-testid="revoke-tokens"
      >
        {t('account.alsoRevokeTokens')}
      </Checkbox>
    </Modal>
  );
}
