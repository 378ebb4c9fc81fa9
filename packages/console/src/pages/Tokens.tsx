/** API tokens of the workspace: list, create (secret shown once), revoke. */
import { useCallback, useState } from 'react';
import type { ReactNode } from 'react';
import {
  Alert,
  App as AntApp,
  Button,
  Form,
  Input,
  Modal,
  Select,
  Space,
  Table,
  Tag,
  Typography,
} from 'antd';
import type { TableColumnsType } from 'antd';
import { DeleteOutlined } from '@ant-design/icons';
import { checkName, roleAtLeast, roles } from '@parley/protocol';
import type { ApiToken, CreatedToken, Role } from '@parley/protocol';
import { api } from '../api';
import { useT } from '../i18n';
import { errorText } from '../errors';
import { sharedRule, showServerFieldError } from '../forms';
import { useWorkspace } from '../session';
import { CopyButton, formatTime, tid, useLoad } from '../util';
import { actionsColumn, ConfirmAction, CreateButton, FormModal, LoadError, PageHeader } from '../components';

const expiryChoices = [30, 90, 365, 0] as const; // 0: never

export function TokensPage(): ReactNode {
  const t = useT();
  const ws = useWorkspace();
  const { message } = AntApp.useApp();
  const {
    data: tokens,
    error: loadError,
    reload: load,
  } = useLoad(useCallback(async () => (await api.listTokens(ws.workspaceId)).items, [ws.workspaceId]));
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<CreatedToken | null>(null);

  const revoke = async (token: ApiToken): Promise<void> => {
    try {
      await api.revokeToken(ws.workspaceId, token.tokenId);
      void message.success(t('tokens.revoked', { name: token.name }));
      await load();
    } catch (error) {
      void message.error(errorText(t, error));
    }
  };

  const now = Date.now();
  const columns: TableColumnsType<ApiToken> = [
    { key: 'name', title: t('tokens.col.name'), render: (_, token) => <strong>{token.name}</strong> },
    { key: 'role', title: t('tokens.col.role'), render: (_, token) => <Tag>{t(`role.${token.role}`)}</Tag> },
    {
      key: 'prefix',
      title: t('tokens.col.prefix'),
      render: (_, token) => <Typography.Text className="mono">{token.prefix}…</Typography.Text>,
    },
    { key: 'createdBy', title: t('tokens.col.createdBy'), dataIndex: 'createdBy' },
    { key: 'createdAt', title: t('tokens.col.createdAt'), render: (_, token) => formatTime(token.createdAt) },
    {
      key: 'lastUsedAt',
      title: t('tokens.col.lastUsedAt'),
      render: (_, token) => (token.lastUsedAt !== null ? formatTime(token.lastUsedAt) : t('common.never')),
    },
    {
      key: 'expiresAt',
      title: t('tokens.col.expiresAt'),
      render: (_, token) =>
        token.expiresAt === null ? (
          t('common.never')
        ) : (
          <Space size={4}>
            {formatTime(token.expiresAt)}
            {token.expiresAt <= now ? <Tag color="error">{t('tokens.expired')}</Tag> : null}
          </Space>
        ),
    },
    ...actionsColumn(t, ws.canEdit, (token: ApiToken) => (
      <ConfirmAction
        title={t('tokens.revoke')}
        body={t('tokens.revokeConfirm', { name: token.name })}
        okText={t('tokens.revoke')}
        confirmTestId="confirm-revoke"
        label={t('tokens.revoke')}
        icon={<DeleteOutlined />}
        testId={`revoke-${token.tokenId}`}
        onConfirm={() => revoke(token)}
      />
    )),
  ];

  return (
    <div>
      <PageHeader
        title={t('tokens.title')}
        intro={t('tokens.intro')}
        extra={
          ws.canEdit ? (
            <CreateButton onClick={() => setCreating(true)} testId="create-token">
              {t('tokens.create')}
            </CreateButton>
          ) : null
        }
      />
      {loadError && !tokens ? (
        <LoadError error={loadError} onRetry={() => void load()} />
      ) : (
        <Table<ApiToken>
          rowKey="tokenId"
          columns={columns}
          dataSource={tokens ?? []}
          loading={tokens === null}
          pagination={false}
          scroll={{ x: 'max-content' }}
          locale={{ emptyText: t('tokens.empty') }}
          onRow={(token) => tid(`token-row-${token.tokenId}`)}
        />
      )}
      <CreateTokenModal
        open={creating}
        onClose={() => setCreating(false)}
        onCreated={(result) => {
          setCreated(result);
          void load();
        }}
      />
      <Modal
        open={created !== null}
        title={t('tokens.createdTitle')}
        onCancel={() => setCreated(null)}
        closable
        mask={{ closable: false }}
        footer={
          <Button type="primary" onClick={() => setCreated(null)} data-testid="token-secret-close">
            {t('common.close')}
          </Button>
        }
      >
        {created ? (
          <Space orientation="vertical" size={12} style={{ width: '100%' }}>
            <Alert type="warning" showIcon title={t('tokens.secretNote')} />
            <Input.TextArea
              readOnly
              value={created.secret}
              autoSize
              className="mono break-all"
              data-testid="token-secret"
              aria-label={t('tokens.createdTitle')}
            />
            <CopyButton text={created.secret} label={t('tokens.copySecret')} testId="copy-token-secret" />
          </Space>
        ) : null}
      </Modal>
    </div>
  );
}

function CreateTokenModal(props: {
  open: boolean;
  onClose: () => void;
  onCreated: (created: CreatedToken) => void;
}): ReactNode {
  const t = useT();
  const ws = useWorkspace();
  const [form] = Form.useForm<{ name: string; role: Role; expiry: number }>();
  const allowedRoles = roles.filter((r) => roleAtLeast(ws.role, r));
  const defaultRole: Role = roleAtLeast(ws.role, 'developer') ? 'developer' : ws.role;

  return (
    <FormModal
      open={props.open}
      title={t('tokens.create')}
      okTestId="token-create-ok"
      form={form}
      initialValues={{ name: '', role: defaultRole, expiry: 90 }}
      submit={(values) =>
        api.createToken(ws.workspaceId, {
          name: values.name.trim(),
          role: values.role,
          ...(values.expiry > 0 ? { expiresInDays: values.expiry } : {}),
        })
      }
      onDone={props.onCreated}
      showOnField={(error) => showServerFieldError(form, t, error, ['name', 'role'])}
      onClose={props.onClose}
    >
      <Form.Item name="name" label={t('tokens.name')} rules={[sharedRule(t, (v) => checkName('name', v))]}>
        <Input
          autoFocus
          autoComplete="off"
          placeholder={t('tokens.namePlaceholder')}
          data-testid="token-name-input"
        />
      </Form.Item>
      <Form.Item name="role" label={t('tokens.role')} extra={t('tokens.roleHelp')}>
        <Select
          data-testid="token-role-select"
          options={allowedRoles.map((r) => ({ value: r, label: t(`role.${r}`) }))}
        />
      </Form.Item>
      <Form.Item name="expiry" label={t('tokens.expiry')}>
        <Select
          data-testid="token-expiry-select"
          options={expiryChoices.map((days) => ({
            value: days,
            label: days === 0 ? t('tokens.noExpiry') : t('tokens.days', { n: days }),
          }))}
        />
      </Form.Item>
    </FormModal>
  );
}
