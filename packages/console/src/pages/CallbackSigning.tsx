/**
 * Callback tools of the feature configuration: "Send test callback" under each callback URL
 * (developer and up) and the callback signing secrets (shown to developers and up only).
 */
import { useCallback, useState } from 'react';
import type { ReactNode } from 'react';
import {
  Alert,
  App as AntApp,
  Button,
  Card,
  Descriptions,
  Popconfirm,
  Space,
  Tag,
  Tooltip,
  Typography,
} from 'antd';
import { EyeInvisibleOutlined, EyeOutlined, SendOutlined, SyncOutlined } from '@ant-design/icons';
import type { App, CallbackSecret, TestCallbackResult } from '@parley/protocol';
import { api, links } from '../api';
import { useT } from '../i18n';
import { errorText } from '../errors';
import { useWorkspace } from '../session';
import { CopyButton, formatTime, tid, useLoad } from '../util';
import { LoadError } from '../components';

export type CallbackKind = 'room' | 'recording';

/** The outcome of the latest test callback: the receiver's answer, or why it could not be sent. */
export type TestOutcome = { kind: CallbackKind } & (
  { result: TestCallbackResult; error?: undefined } | { result?: undefined; error: unknown }
);

/** One test callback at a time; its outcome is shown under the URL it went to. */
export function useTestCallback(
  app: App,
  bizName: string,
): {
  outcome: TestOutcome | null;
  running: CallbackKind | null;
  run: (kind: CallbackKind) => Promise<void>;
  clear: () => void;
} {
  const ws = useWorkspace();
  const [outcome, setOutcome] = useState<TestOutcome | null>(null);
  const [running, setRunning] = useState<CallbackKind | null>(null);
  const run = useCallback(
    async (kind: CallbackKind): Promise<void> => {
      setRunning(kind);
      setOutcome(null);
      try {
        setOutcome({ kind, result: await api.testCallback(ws.workspaceId, app.appId, bizName, kind) });
      } catch (error) {
        setOutcome({ kind, error });
      } finally {
        setRunning(null);
      }
    },
    [ws.workspaceId, app.appId, bizName],
  );
  const clear = useCallback(() => setOutcome(null), []);
  return { outcome, running, run, clear };
}

/**
 * "Send test callback" for one URL field, and the outcome when the latest test was for it.
 * The test goes to the saved URL, so it is offered only outside edit mode with a URL saved.
 */
export function TestCallback(props: {
  kind: CallbackKind;
  savedUrl: string;
  editing: boolean;
  test: ReturnType<typeof useTestCallback>;
}): ReactNode {
  const t = useT();
  const { kind, savedUrl, editing, test } = props;
  const blocked = editing ? t('config.testNeedsSave') : savedUrl === '' ? t('config.testNeedsUrl') : null;
  return (
    <div className="test-callback">
      <Tooltip title={blocked ?? t('config.testCallbackHelp')}>
        <Button
          size="small"
          icon={<SendOutlined />}
          // An explicit value: the read-only form around it would otherwise disable the button.
          disabled={blocked !== null || (test.running !== null && test.running !== kind)}
          loading={test.running === kind}
          onClick={() => void test.run(kind)}
          data-testid={`test-callback-${kind}`}
        >
          {t('config.testCallback')}
        </Button>
      </Tooltip>
      {test.outcome?.kind === kind ? <TestOutcomeAlert outcome={test.outcome} onClose={test.clear} /> : null}
    </div>
  );
}

function TestOutcomeAlert(props: { outcome: TestOutcome; onClose: () => void }): ReactNode {
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
        data-testid="test-callback-result"
        data-success="false"
        title={t('config.testRequestFailed', { error: errorText(t, error) })}
      />
    );
  }
  const ms = Math.round(result.durationMs);
  const summary =
    result.statusCode !== null
      ? t('config.testStatus', { status: result.statusCode, ms })
      : t('config.testNoStatus', { ms });
  return (
    <Alert
      type={result.success ? 'success' : 'error'}
      showIcon
      closable={closable}
      className="test-result"
      data-testid="test-callback-result"
      data-success={String(result.success)}
      title={`${result.success ? t('config.testOk') : t('config.testFailed')} · ${summary}`}
      description={
        <div className="test-result-body">
          <div>
            <Typography.Text type="secondary">{t('config.testUrl')}: </Typography.Text>
            <Typography.Text className="mono break-all">{result.url}</Typography.Text>
          </div>
          {result.error ? (
            <div>
              <Typography.Text type="secondary">{t('config.testError')}: </Typography.Text>
              <Typography.Text type="danger">{result.error}</Typography.Text>
            </div>
          ) : null}
          {result.responseExcerpt ? (
            <div>
              <Typography.Text type="secondary">{t('config.testResponse')}:</Typography.Text>
              <pre className="json mono excerpt">{result.responseExcerpt}</pre>
            </div>
          ) : null}
          <div>
            <Typography.Text type="secondary">{t('config.testPayload')}:</Typography.Text>
            <pre className="json mono excerpt">{JSON.stringify(result.payload, null, 2)}</pre>
          </div>
        </div>
      }
    />
  );
}

/** `whsec_••••••••••••AbCd`: enough to tell secrets apart, not enough to use one. */
function maskSecret(secret: string): string {
  const prefix = secret.startsWith('whsec_') ? 'whsec_' : '';
  return `${prefix}${'•'.repeat(12)}${secret.slice(-4)}`;
}

const verifySample = `import { verifyCallback } from '@parley/server-sdk';

// rawBody: the request body exactly as received, before any JSON parsing
const event = verifyCallback({ secret: [currentSecret, previousSecret], headers: req.headers, body: rawBody });`;

/** The callback signing secrets of a call application, with rotation. Developers and up only. */
export function CallbackSigningCard(props: { app: App; bizName: string }): ReactNode {
  const t = useT();
  const ws = useWorkspace();
  const { message } = AntApp.useApp();
  const { app, bizName } = props;
  const {
    data: secrets,
    error: loadError,
    reload: load,
    setData: setSecrets,
  } = useLoad(
    useCallback(
      async () => (await api.listCallbackSecrets(ws.workspaceId, app.appId, bizName)).items,
      [ws.workspaceId, app.appId, bizName],
    ),
  );
  const [revealed, setRevealed] = useState(false);

  const rotate = async (): Promise<void> => {
    try {
      const list = await api.rotateCallbackSecret(ws.workspaceId, app.appId, bizName);
      setSecrets(list.items);
      setRevealed(false);
      void message.success(t('signing.rotated'));
    } catch (error) {
      void message.error(errorText(t, error));
    }
  };

  const create = async (): Promise<void> => {
    try {
      const list = await api.createCallbackSecret(ws.workspaceId, app.appId, bizName);
      setSecrets(list.items);
      setRevealed(false);
      void message.success(t('signing.created'));
    } catch (error) {
      void message.error(errorText(t, error));
    }
  };

  const active = secrets?.find((s) => s.status === 'active') ?? null;
  const retiring = secrets?.filter((s) => s.status === 'retiring') ?? [];
  const shown = (secret: string): string => (revealed ? secret : maskSecret(secret));

  const secretLine = (secret: CallbackSecret, testId: string, extra?: ReactNode): ReactNode => (
    <Space orientation="vertical" size={2}>
      <Space size={4} wrap>
        <Typography.Text className="mono break-all" data-testid={testId} data-secret-id={secret.secretId}>
          {shown(secret.secret)}
        </Typography.Text>
        {extra}
        <CopyButton type="text" text={secret.secret} testId={`${testId}-copy`} />
      </Space>
      <Typography.Text type="secondary" className="small">
        {secret.status === 'retiring' && secret.expiresAt !== null
          ? t('signing.retiringUntil', { time: formatTime(secret.expiresAt) })
          : t('signing.createdAt', { time: formatTime(secret.createdAt) })}
      </Typography.Text>
    </Space>
  );

  return (
    <Card
      title={t('signing.title')}
      className="section-card"
      data-testid="callback-signing-card"
      extra={
        <Popconfirm
          title={t('signing.rotateTitle')}
          description={<div className="confirm-body">{t('signing.rotateBody')}</div>}
          okText={t('signing.rotate')}
          cancelText={t('common.cancel')}
          okButtonProps={tid('confirm-secret-rotate')}
          onConfirm={() => rotate()}
        >
          <Button icon={<SyncOutlined />} disabled={!secrets} data-testid="callback-secret-rotate">
            {t('signing.rotate')}
          </Button>
        </Popconfirm>
      }
    >
      <Typography.Paragraph type="secondary">{t('signing.intro')}</Typography.Paragraph>
      {loadError && !secrets ? (
        <LoadError error={loadError} onRetry={() => void load()} />
      ) : (
        <Descriptions
          size="small"
          column={1}
          bordered
          className="signing-secrets"
          items={[
            {
              key: 'active',
              label: (
                <Space size={6}>
                  {t('signing.active')}
                  <Tag color="success">{t('keys.status.active')}</Tag>
                </Space>
              ),
              children: active ? (
                secretLine(
                  active,
                  'callback-secret-active',
                  <Tooltip title={revealed ? t('signing.hide') : t('signing.reveal')}>
                    <Button
                      type="text"
                      icon={revealed ? <EyeInvisibleOutlined /> : <EyeOutlined />}
                      onClick={() => setRevealed((r) => !r)}
                      aria-label={revealed ? t('signing.hide') : t('signing.reveal')}
                      data-testid="callback-secret-reveal"
                    />
                  </Tooltip>,
                )
              ) : secrets ? (
                // A call application made before secrets came with it: reading never creates one.
                <Space size={8} wrap>
                  <Typography.Text type="secondary">{t('signing.none')}</Typography.Text>
                  <Button
                    size="small"
                    type="primary"
                    onClick={() => void create()}
                    data-testid="callback-secret-create"
                  >
                    {t('signing.create')}
                  </Button>
                </Space>
              ) : (
                '…'
              ),
            },
            ...retiring.map((secret) => ({
              key: secret.secretId,
              label: (
                <Space size={6}>
                  {t('signing.retiring')}
                  <Tag color="warning">{t('keys.status.retiring')}</Tag>
                </Space>
              ),
              children: secretLine(secret, 'callback-secret-retiring'),
            })),
          ]}
        />
      )}
      <div className="signing-note">
        <Typography.Paragraph type="secondary" className="small">
          {t('signing.verifyNote')}{' '}
          <a href={links.callbackDocs} target="_blank" rel="noopener" data-testid="callback-docs-link">
            {t('signing.docs')}
          </a>
        </Typography.Paragraph>
        <pre className="json mono">{verifySample}</pre>
      </div>
    </Card>
  );
}
