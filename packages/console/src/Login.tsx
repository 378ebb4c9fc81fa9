import { useEffect, useState } from 'react';
import type { ReactNode } from 'react';
import { Alert, Button, Card, Form, Input, Typography } from 'antd';
import { LockOutlined, MailOutlined, PhoneOutlined, TranslationOutlined } from '@ant-design/icons';
import type { Session } from '@parley/protocol';
import { api, ApiError } from './api';
import { useI18n } from './i18n';
import { errorText, formatDuration } from './errors';

export function Login(props: { onSignedIn: (session: Session) => void; expired?: boolean }): ReactNode {
  const { t, lang, setLang } = useI18n();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [lockedUntil, setLockedUntil] = useState<number | null>(null);
  const [now, setNow] = useState(() => Date.now());

  // Count the rate-limit wait down so the message stays true.
  useEffect(() => {
    if (lockedUntil === null) return;
    const timer = setInterval(() => {
      const current = Date.now();
      setNow(current);
      if (current >= lockedUntil) setLockedUntil(null);
    }, 1000);
    return () => clearInterval(timer);
  }, [lockedUntil]);

  const submit = async (values: { email: string; password: string }): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      props.onSignedIn(await api.login(values.email.trim(), values.password));
    } catch (err) {
      setError(err);
      if (err instanceof ApiError && err.code === 'LOGIN_RATE_LIMITED' && err.retryAfter !== undefined) {
        setNow(Date.now());
        setLockedUntil(Date.now() + err.retryAfter * 1000);
      }
    } finally {
      setBusy(false);
    }
  };

  let errorMessage: string | null = null;
  if (error instanceof ApiError && error.code === 'LOGIN_RATE_LIMITED') {
    errorMessage =
      lockedUntil !== null
        ? t('login.rateLimited', {
            time: formatDuration(t, Math.max(1, Math.ceil((lockedUntil - now) / 1000))),
          })
        : t('err.LOGIN_RATE_LIMITED');
  } else if (error) {
    errorMessage = errorText(t, error);
  } else if (props.expired) {
    errorMessage = t('err.UNAUTHENTICATED');
  }

  return (
    <div className="login-page">
      <div className="login-lang">
        <Button
          type="text"
          icon={<TranslationOutlined />}
          onClick={() => setLang(lang === 'zh' ? 'en' : 'zh')}
          data-testid="lang-switch"
        >
          {t('lang.switchTo')}
        </Button>
      </div>
      <Card className="login-card">
        <div className="login-brand">
          <PhoneOutlined className="login-logo" />
          <div>
            <Typography.Title level={3} style={{ margin: 0 }}>
              {t('login.title')}
            </Typography.Title>
            <Typography.Text type="secondary">{t('app.tagline')}</Typography.Text>
          </div>
        </div>
        <Form
          layout="vertical"
          onFinish={(values: { email: string; password: string }) => void submit(values)}
          requiredMark={false}
        >
          <Form.Item
            name="email"
            label={t('login.email')}
            rules={[{ required: true, message: t('login.emailRequired') }]}
          >
            <Input
              prefix={<MailOutlined />}
              autoComplete="username"
              autoFocus
              type="email"
              data-testid="login-email"
            />
          </Form.Item>
          <Form.Item
            name="password"
            label={t('login.password')}
            rules={[{ required: true, message: t('login.passwordRequired') }]}
          >
            <Input.Password
              prefix={<LockOutlined />}
              autoComplete="current-password"
              data-testid="login-password"
            />
          </Form.Item>
          {errorMessage ? (
            <Alert
              type="error"
              showIcon
              title={errorMessage}
              style={{ marginBottom: 16 }}
              data-testid="login-error"
            />
          ) : null}
          <Button
            type="primary"
            htmlType="submit"
            block
            loading={busy}
            disabled={lockedUntil !== null}
            data-testid="login-submit"
          >
            {t('login.submit')}
          </Button>
        </Form>
      </Card>
    </div>
  );
}
