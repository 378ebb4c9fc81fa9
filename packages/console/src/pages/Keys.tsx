/** Viewing a call application's private key (after re-authentication) and managing its keys. */
import { useCallback, useState } from 'react';
import type { ReactNode } from 'react';
import {
  Alert,
  App as AntApp,
  Button,
  Card,
  Descriptions,
  Form,
  Input,
  InputNumber,
  Modal,
  Space,
  Table,
  Tag,
  Typography,
} from 'antd';
import type { TableColumnsType } from 'antd';
import { EyeOutlined, FileTextOutlined, LockOutlined, SyncOutlined } from '@ant-design/icons';
import type { App, KeyInfo, KeyStatus, RevealedKey } from '@parley/protocol';
import { api, isApiError, links } from '../api';
import { useT } from '../i18n';
import { errorText } from '../errors';
import { useWorkspace } from '../session';
import { CopyButton, formatTime, tid, useLoad } from '../util';
import { actionsColumn, ConfirmAction, LoadError } from '../components';

interface CallAppRef {
  bizName: string;
  name: string;
}

/** Password first (re-authentication), then the private key PEM with its fingerprint. */
export function ViewKeyModal(props: { app: App; callApp: CallAppRef; onClose: () => void }): ReactNode {
  const t = useT();
  const ws = useWorkspace();
  const [form] = Form.useForm<{ password: string }>();
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  const [revealed, setRevealed] = useState<RevealedKey | null>(null);
  const [keyInfo, setKeyInfo] = useState<KeyInfo | null>(null);
  const { app, callApp } = props;

  const reveal = async (values: { password: string }): Promise<void> => {
    setBusy(true);
    setFailure(null);
    try {
      const key = await api.revealKey(ws.workspaceId, app.appId, callApp.bizName, values.password);
      form.resetFields();
      setRevealed(key);
      api.listKeys(ws.workspaceId, app.appId, callApp.bizName).then(
        (list) => setKeyInfo(list.items.find((k) => k.keyId === key.keyId) ?? null),
        () => setKeyInfo(null),
      );
    } catch (error) {
      if (isApiError(error, 'REAUTH_FAILED')) {
        form.setFields([{ name: 'password', errors: [t('err.REAUTH_FAILED')] }]);
      } else {
        setFailure(errorText(t, error));
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal
      open
      title={t('keys.revealTitle', { name: callApp.name })}
      onCancel={props.onClose}
      width={revealed ? 720 : 480}
      destroyOnHidden
      footer={
        <Button onClick={props.onClose} data-testid="view-key-close">
          {t('common.close')}
        </Button>
      }
    >
      {revealed ? (
        <Space orientation="vertical" size={16} style={{ width: '100%' }}>
          <Descriptions
            column={1}
            size="small"
            bordered
            items={[
              { key: 'bizName', label: 'bizName', children: <span className="mono">{callApp.bizName}</span> },
              {
                key: 'keyId',
                label: t('keys.keyId'),
                children: <span className="mono">{revealed.keyId}</span>,
              },
              {
                key: 'fingerprint',
                label: t('keys.fingerprint'),
                children: (
                  <Typography.Text className="mono break-all" data-testid="key-fingerprint">
                    {keyInfo?.fingerprint ?? '…'}
                  </Typography.Text>
                ),
              },
            ]}
          />
          <div>
            <Space style={{ justifyContent: 'space-between', width: '100%', marginBottom: 8 }}>
              <Typography.Text strong>{t('keys.privateKey')}</Typography.Text>
              <CopyButton text={revealed.privateKeyPem} label={t('keys.copyPem')} testId="copy-private-key" />
            </Space>
            <Input.TextArea
              readOnly
              value={revealed.privateKeyPem}
              autoSize={{ minRows: 8, maxRows: 18 }}
              className="mono pem"
              spellCheck={false}
              data-testid="private-key-pem"
              aria-label={t('keys.privateKey')}
            />
          </div>
          <Alert
            type="warning"
            showIcon
            icon={<LockOutlined />}
            title={t('keys.secretTitle')}
            description={t('keys.secretNote')}
          />
          <a href={links.signingDocs} target="_blank" rel="noopener">
            <FileTextOutlined /> {t('callApps.viewDocs')}
          </a>
        </Space>
      ) : (
        <Form form={form} layout="vertical" onFinish={(values) => void reveal(values)} requiredMark={false}>
          <Typography.Paragraph type="secondary">{t('keys.reauthPrompt')}</Typography.Paragraph>
          <Form.Item
            name="password"
            label={t('keys.password')}
            rules={[{ required: true, message: t('keys.passwordRequired') }]}
          >
            <Input.Password autoFocus autoComplete="current-password" data-testid="reauth-password" />
          </Form.Item>
          {failure ? <Alert type="error" showIcon title={failure} style={{ marginBottom: 16 }} /> : null}
          <Button
            type="primary"
            htmlType="submit"
            loading={busy}
            icon={<EyeOutlined />}
            data-testid="reauth-submit"
          >
            {t('keys.reveal')}
          </Button>
        </Form>
      )}
    </Modal>
  );
}

const statusColor: Record<KeyStatus, string> = { active: 'success', retiring: 'warning', retired: 'default' };

/** The keys of one call application: status, rotation, and ending a grace period early. */
export function KeysCard(props: { app: App; callApp: CallAppRef; onRotated?: () => void }): ReactNode {
  const t = useT();
  const ws = useWorkspace();
  const { message } = AntApp.useApp();
  const { app, callApp } = props;
  const {
    data: keys,
    error: loadError,
    reload: load,
    setData: setKeys,
  } = useLoad(
    useCallback(
      async () => (await api.listKeys(ws.workspaceId, app.appId, callApp.bizName)).items,
      [ws.workspaceId, app.appId, callApp.bizName],
    ),
  );
  const [viewing, setViewing] = useState(false);
  const [rotating, setRotating] = useState(false);
  const [graceHours, setGraceHours] = useState<number | null>(24);
  const [busy, setBusy] = useState(false);

  const rotate = async (): Promise<void> => {
    setBusy(true);
    try {
      const list = await api.rotateKey(ws.workspaceId, app.appId, callApp.bizName, graceHours ?? undefined);
      setKeys(list.items);
      setRotating(false);
      void message.success(t('keys.rotated'));
      props.onRotated?.();
    } catch (error) {
      void message.error(errorText(t, error));
    } finally {
      setBusy(false);
    }
  };

  const retire = async (key: KeyInfo): Promise<void> => {
    try {
      const list = await api.retireKey(ws.workspaceId, app.appId, callApp.bizName, key.keyId);
      setKeys(list.items);
      void message.success(t('keys.retiredDone'));
    } catch (error) {
      void message.error(errorText(t, error));
    }
  };

  const columns: TableColumnsType<KeyInfo> = [
    {
      key: 'key',
      title: t('keys.col.key'),
      render: (_, key) => (
        <Space orientation="vertical" size={0}>
          <Typography.Text className="mono">{key.masked}</Typography.Text>
          <Typography.Text type="secondary" className="mono small break-all" title={t('keys.fingerprint')}>
            {t('keys.keyId')}: {key.keyId}
          </Typography.Text>
        </Space>
      ),
    },
    {
      key: 'status',
      title: t('keys.col.status'),
      render: (_, key) => <Tag color={statusColor[key.status]}>{t(`keys.status.${key.status}`)}</Tag>,
    },
    {
      key: 'fingerprint',
      title: t('keys.fingerprint'),
      render: (_, key) => (
        <Typography.Text
          className="mono small"
          copyable={{ text: key.fingerprint, tooltips: [t('common.copy'), t('common.copied')] }}
          title={key.fingerprint}
        >
          {key.fingerprint.slice(0, 16)}…
        </Typography.Text>
      ),
    },
    { key: 'createdAt', title: t('keys.col.createdAt'), render: (_, key) => formatTime(key.createdAt) },
    {
      key: 'retiresAt',
      title: t('keys.col.retiresAt'),
      render: (_, key) => (key.retiresAt !== null ? formatTime(key.retiresAt) : '—'),
    },
    ...actionsColumn(t, ws.canEdit, (key: KeyInfo) =>
      key.status === 'retiring' ? (
        <ConfirmAction
          title={t('keys.retire')}
          body={t('keys.retireConfirm')}
          okText={t('common.ok')}
          confirmTestId="confirm-retire"
          label={t('keys.retire')}
          testId={`retire-${key.keyId}`}
          onConfirm={() => retire(key)}
        />
      ) : null,
    ),
  ];

  return (
    <Card
      title={t('keys.title')}
      className="section-card"
      data-testid="keys-card"
      extra={
        ws.canEdit ? (
          <Space>
            <Button icon={<EyeOutlined />} onClick={() => setViewing(true)} data-testid="config-view-key">
              {t('callApps.viewKey')}
            </Button>
            <Button icon={<SyncOutlined />} onClick={() => setRotating(true)} data-testid="rotate-key">
              {t('keys.rotate')}
            </Button>
          </Space>
        ) : null
      }
    >
      <Typography.Paragraph type="secondary">
        {t('keys.intro')}{' '}
        <a href={links.signingDocs} target="_blank" rel="noopener">
          {t('callApps.viewDocs')}
        </a>
      </Typography.Paragraph>
      {loadError && !keys ? (
        <LoadError error={loadError} onRetry={() => void load()} />
      ) : (
        <Table<KeyInfo>
          rowKey="keyId"
          size="small"
          columns={columns}
          dataSource={keys ?? []}
          loading={keys === null}
          pagination={false}
          scroll={{ x: 'max-content' }}
          onRow={(key) => tid(`key-row-${key.keyId}`)}
        />
      )}
      {viewing ? <ViewKeyModal app={app} callApp={callApp} onClose={() => setViewing(false)} /> : null}
      <Modal
        open={rotating}
        title={t('keys.rotateTitle', { name: callApp.name })}
        okText={t('keys.rotate')}
        cancelText={t('common.cancel')}
        confirmLoading={busy}
        onOk={() => void rotate()}
        onCancel={() => setRotating(false)}
        okButtonProps={tid('rotate-confirm')}
        destroyOnHidden
      >
        <Typography.Paragraph>{t('keys.rotateBody')}</Typography.Paragraph>
        <Space>
          <span>{t('keys.graceHours')}</span>
          <InputNumber
            min={0}
            max={24 * 30}
            precision={0}
            value={graceHours}
            onChange={(value) => setGraceHours(value)}
            data-testid="rotate-grace-hours"
          />
        </Space>
      </Modal>
    </Card>
  );
}
