/**
 * Media-stream proxy tools of the feature configuration (developers and up): "Test proxy" next to
 * the proxy address (a TURN allocation on the address in the form, saved or not) and the TURN
 * shared secret the proxy needs, with a ready-to-copy coturn configuration.
 */
import { useCallback, useState } from 'react';
import type { ReactNode } from 'react';
import { Alert, App as AntApp, Button, ConfigProvider, Popconfirm, Space, Tooltip, Typography } from 'antd';
import { ApiOutlined, EyeInvisibleOutlined, EyeOutlined, SyncOutlined } from '@ant-design/icons';
import type { App, ProxySecret, ProxyTestResult } from '@parley/protocol';
import { api, links } from '../api';
import { useT } from '../i18n';
import { errorText, fieldIssueFromError, fieldIssueText } from '../errors';
import { useWorkspace } from '../session';
import { CopyButton, formatTime, tid } from '../util';

/** The outcome of the latest proxy test: the probe's result, or why it could not run. */
export type ProxyTestOutcome =
  { result: ProxyTestResult; error?: undefined } | { result?: undefined; error: unknown };

/** One proxy test at a time; its outcome is shown under the address field. */
export function useProxyTest(
  app: App,
  bizName: string,
): {
  outcome: ProxyTestOutcome | null;
  running: boolean;
  /** Tests `address`; a 400 about the address comes back as its localized text (null otherwise). */
  run: (address: string) => Promise<string | null>;
  clear: () => void;
} {
  const t = useT();
  const ws = useWorkspace();
  const [outcome, setOutcome] = useState<ProxyTestOutcome | null>(null);
  const [running, setRunning] = useState(false);
  const run = useCallback(
    async (address: string): Promise<string | null> => {
      setRunning(true);
      setOutcome(null);
      try {
        setOutcome({ result: await api.testProxy(ws.workspaceId, app.appId, bizName, address) });
        return null;
      } catch (error) {
        const issue = fieldIssueFromError(error);
        if (issue?.field === 'proxyAddress') return fieldIssueText(t, issue);
        setOutcome({ error });
        return null;
      } finally {
        setRunning(false);
      }
    },
    [t, ws.workspaceId, app.appId, bizName],
  );
  const clear = useCallback(() => setOutcome(null), []);
  return { outcome, running, run, clear };
}

/**
 * "Test proxy" for the address in the form (saved or not). Without an address it is disabled and
 * says why (the PROXY_NOT_SET message). `onFieldError` puts a 400 about the address on the field
 * (null clears it).
 */
export function ProxyTestButton(props: {
  /** The address in the field, as last rendered (enables the button). */
  address: string;
  /** The address in the field right now (what a click tests). */
  current: () => string;
  test: ReturnType<typeof useProxyTest>;
  onFieldError: (text: string | null) => void;
}): ReactNode {
  const t = useT();
  const { test, onFieldError } = props;
  const address = props.address.trim();
  const run = async (): Promise<void> => {
    onFieldError(null);
    onFieldError(await test.run(props.current().trim()));
  };
  return (
    <Tooltip title={address === '' ? t('err.PROXY_NOT_SET') : t('proxy.test.help')}>
      <Button
        icon={<ApiOutlined />}
        // An explicit value: the read-only form around it would otherwise disable the button.
        disabled={address === ''}
        loading={test.running}
        onClick={() => void run()}
        data-testid="proxy-test"
      >
        {t('proxy.test.button')}
      </Button>
    </Tooltip>
  );
}

/** The outcome of the latest test: green with the relayed address, or red with what failed. */
export function ProxyTestAlert(props: {
  outcome: ProxyTestOutcome;
  savedAddress: string;
  onClose: () => void;
}): ReactNode {
  const t = useT();
  const { result, error } = props.outcome;
  const closable = { afterClose: props.onClose };
  if (!result) {
    return (
      <Alert
        type="error"
        showIcon
        closable={closable}
        className="test-result"
        data-testid="proxy-test-result"
        data-success="false"
        title={t('proxy.test.requestFailed', { error: errorText(t, error) })}
      />
    );
  }
  const target =
    result.resolvedAddress !== null && result.resolvedAddress !== result.host
      ? `${result.address} (${result.resolvedAddress})`
      : result.address;
  const line = (label: string, value: ReactNode, testId?: string): ReactNode => (
    <div>
      <Typography.Text type="secondary">{label}: </Typography.Text>
      <Typography.Text className="mono break-all" data-testid={testId}>
        {value}
      </Typography.Text>
    </div>
  );
  return (
    <Alert
      type={result.ok ? 'success' : 'error'}
      showIcon
      closable={closable}
      className="test-result"
      data-testid="proxy-test-result"
      data-success={String(result.ok)}
      data-stage={result.stage}
      title={t(`proxy.test.stage.${result.stage}`)}
      description={
        <div className="test-result-body">
          {result.ok && result.relayedAddress !== null
            ? line(t('proxy.test.relayed'), result.relayedAddress, 'proxy-test-relayed')
            : null}
          {line(t('proxy.test.proxy'), target)}
          {line(t('proxy.test.duration'), t('proxy.test.ms', { ms: Math.round(result.durationMs) }))}
          {result.ok ? null : (
            <div>
              <Typography.Text type="secondary">{t('proxy.test.detail')}: </Typography.Text>
              <Typography.Text type="danger" data-testid="proxy-test-message">
                {result.message}
              </Typography.Text>
            </div>
          )}
          {result.ok && result.address.trim() !== props.savedAddress.trim() ? (
            <Typography.Text type="warning">{t('proxy.test.unsaved')}</Typography.Text>
          ) : null}
        </div>
      }
    />
  );
}

/** The port of a proxy address ("host", "host:port", "[v6]:port", "v6"); 3478 when none is given. */
export function proxyPort(address: string): number {
  const a = address.trim();
  const bracketed = /^\[[^\]]+\]:(\d{1,5})$/.exec(a);
  const plain = /^[^:[\]]+:(\d{1,5})$/.exec(a);
  const port = Number((bracketed ?? plain)?.[1] ?? 3478);
  return port >= 1 && port <= 65535 ? port : 3478;
}

/** The realm of the coturn snippet. Any realm works: terminals learn it from the proxy. */
const coturnRealm = 'parley';

export function coturnConfig(secret: string, port: number): string {
  return [
    '# /etc/turnserver.conf (coturn 4.6)',
    `listening-port=${port}`,
    'use-auth-secret',
    `static-auth-secret=${secret}`,
    `realm=${coturnRealm}`,
    'fingerprint',
    'no-cli',
  ].join('\n');
}

const masked = '•'.repeat(16);

/**
 * The TURN shared secret of the call application's proxy (hidden until "Show": each read is
 * audited), its rotation, and the coturn configuration that uses it. Developers and up only.
 */
export function ProxySecretPanel(props: {
  app: App;
  bizName: string;
  /** The address in the form, for the port of the coturn snippet. */
  address: string;
  onRotated: () => void;
}): ReactNode {
  const t = useT();
  const ws = useWorkspace();
  const { message } = AntApp.useApp();
  const { app, bizName, onRotated } = props;
  const [secret, setSecret] = useState<ProxySecret | null>(null);
  const [revealed, setRevealed] = useState(false);
  const [loading, setLoading] = useState(false);

  const toggle = async (): Promise<void> => {
    if (revealed || secret) {
      setRevealed((r) => !r);
      return;
    }
    setLoading(true);
    try {
      setSecret(await api.getProxySecret(ws.workspaceId, app.appId, bizName));
      setRevealed(true);
    } catch (error) {
      void message.error(errorText(t, error));
    } finally {
      setLoading(false);
    }
  };

  const rotate = async (): Promise<void> => {
    try {
      setSecret(await api.rotateProxySecret(ws.workspaceId, app.appId, bizName));
      onRotated();
      void message.success(t('proxy.secret.rotated'));
    } catch (error) {
      void message.error(errorText(t, error));
    }
  };

  const shown = revealed && secret ? secret.secret : null;
  const snippet = coturnConfig(shown ?? masked, proxyPort(props.address));
  const revealLabel = revealed ? t('proxy.secret.hide') : t('proxy.secret.reveal');

  return (
    // Not part of the form: usable outside edit mode too.
    <ConfigProvider componentDisabled={false}>
      <div className="proxy-secret" data-testid="proxy-secret-panel">
        <Typography.Title level={5}>{t('proxy.secret.title')}</Typography.Title>
        <Typography.Paragraph type="secondary">{t('proxy.secret.intro')}</Typography.Paragraph>
        <Space orientation="vertical" size={2}>
          <Space size={4} wrap>
            <Typography.Text className="mono break-all" data-testid="proxy-secret">
              {shown ?? masked}
            </Typography.Text>
            <Tooltip title={revealLabel}>
              <Button
                type="text"
                icon={revealed ? <EyeInvisibleOutlined /> : <EyeOutlined />}
                loading={loading}
                onClick={() => void toggle()}
                aria-label={revealLabel}
                data-testid="proxy-secret-reveal"
              >
                {revealLabel}
              </Button>
            </Tooltip>
            {shown !== null ? <CopyButton type="text" text={shown} testId="proxy-secret-copy" /> : null}
            <Popconfirm
              title={t('proxy.secret.rotateTitle')}
              description={<div className="confirm-body">{t('proxy.secret.rotateBody')}</div>}
              okText={t('proxy.secret.rotate')}
              okButtonProps={{ danger: true, ...tid('confirm-proxy-secret-rotate') }}
              cancelText={t('common.cancel')}
              onConfirm={() => rotate()}
            >
              <Button icon={<SyncOutlined />} data-testid="proxy-secret-rotate">
                {t('proxy.secret.rotate')}
              </Button>
            </Popconfirm>
          </Space>
          <Typography.Text type="secondary" className="small">
            {secret
              ? t('proxy.secret.createdAt', { time: formatTime(secret.createdAt) })
              : t('proxy.secret.hiddenNote')}
          </Typography.Text>
        </Space>
        <div className="proxy-coturn">
          <Space size={8} align="center">
            <Typography.Text strong>{t('proxy.coturn.title')}</Typography.Text>
            <Tooltip title={shown === null ? t('proxy.coturn.needsReveal') : null}>
              <span>
                <CopyButton
                  text={snippet}
                  label={t('proxy.coturn.copy')}
                  disabled={shown === null}
                  testId="proxy-coturn-copy"
                />
              </span>
            </Tooltip>
          </Space>
          <pre className="json mono" data-testid="proxy-coturn-config">
            {snippet}
          </pre>
          <Typography.Paragraph type="secondary" className="small">
            {t('proxy.coturn.note')} {t('proxy.docs.note')}{' '}
            <a href={links.proxyDocs} target="_blank" rel="noopener" data-testid="proxy-docs-link">
              {t('proxy.docs.link')}
            </a>
          </Typography.Paragraph>
        </div>
      </div>
    </ConfigProvider>
  );
}
