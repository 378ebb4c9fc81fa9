/** Members of the workspace (admin and up): add, change role, remove. */
import { useCallback, useState } from 'react';
import type { ReactNode } from 'react';
import { App as AntApp, Form, Input, Select, Table, Tag, Typography } from 'antd';
import type { TableColumnsType } from 'antd';
import { DeleteOutlined, UserAddOutlined } from '@ant-design/icons';
import { checkName, roleAtLeast, roles } from '@parley/protocol';
import type { Member, Role } from '@parley/protocol';
import { api, isApiError } from '../api';
import { useT } from '../i18n';
import { errorText } from '../errors';
import { sharedRule, showServerFieldError } from '../forms';
import { navigate } from '../router';
import { useSession, useWorkspace } from '../session';
import { formatTime, tid, useLoad } from '../util';
import { ConfirmAction, CreateButton, FormModal, LoadError, PageHeader } from '../components';

const emailRe = /^[^\s@]+@[^\s@]+$/;

export function MembersPage(): ReactNode {
  const t = useT();
  const ws = useWorkspace();
  const { session, refresh } = useSession();
  const { message } = AntApp.useApp();
  const {
    data: members,
    error: loadError,
    reload: load,
    setData: setMembers,
  } = useLoad(useCallback(async () => (await api.listMembers(ws.workspaceId)).items, [ws.workspaceId]));
  const [adding, setAdding] = useState(false);
  const [changing, setChanging] = useState<string | null>(null);

  // Nobody can hand out a role above their own.
  const assignable = roles.filter((r) => roleAtLeast(ws.role, r));

  const changeRole = async (member: Member, role: Role): Promise<void> => {
    setChanging(member.userId);
    try {
      const updated = await api.changeRole(ws.workspaceId, member.userId, role);
      setMembers((list) => list?.map((m) => (m.userId === member.userId ? { ...m, ...updated } : m)) ?? list);
      void message.success(t('members.roleChanged', { email: member.email, role: t(`role.${role}`) }));
      if (member.userId === session.user.userId) await refresh();
    } catch (error) {
      void message.error(errorText(t, error));
    } finally {
      setChanging(null);
    }
  };

  const remove = async (member: Member): Promise<void> => {
    try {
      await api.removeMember(ws.workspaceId, member.userId);
    } catch (error) {
      void message.error(errorText(t, error));
      return;
    }
    void message.success(t('members.removed', { email: member.email }));
    if (member.userId === session.user.userId) {
      await refresh();
      navigate('/');
      return;
    }
    await load();
  };

  const columns: TableColumnsType<Member> = [
    {
      key: 'email',
      title: t('members.col.email'),
      render: (_, member) => (
        <span>
          {member.email}{' '}
          {member.userId === session.user.userId ? (
            <Typography.Text type="secondary">{t('members.you')}</Typography.Text>
          ) : null}
        </span>
      ),
    },
    { key: 'name', title: t('members.col.name'), dataIndex: 'name' },
    {
      key: 'role',
      title: t('members.col.role'),
      render: (_, member) =>
        roleAtLeast(ws.role, member.role) ? (
          <Select<Role>
            size="small"
            value={member.role}
            style={{ width: 140 }}
            loading={changing === member.userId}
            disabled={changing !== null}
            onChange={(role) => void changeRole(member, role)}
            options={assignable.map((r) => ({ value: r, label: t(`role.${r}`) }))}
            data-testid={`member-role-${member.userId}`}
          />
        ) : (
          <Tag>{t(`role.${member.role}`)}</Tag>
        ),
    },
    { key: 'addedAt', title: t('members.col.addedAt'), render: (_, member) => formatTime(member.addedAt) },
    {
      key: 'actions',
      title: t('common.actions'),
      render: (_, member) =>
        roleAtLeast(ws.role, member.role) ? (
          <ConfirmAction
            title={t('members.remove')}
            body={t('members.removeConfirm', { email: member.email })}
            okText={t('members.remove')}
            confirmTestId="confirm-remove"
            label={t('members.remove')}
            icon={<DeleteOutlined />}
            testId={`remove-${member.userId}`}
            onConfirm={() => remove(member)}
          />
        ) : null,
    },
  ];

  return (
    <div>
      <PageHeader
        title={t('members.title')}
        extra={
          <CreateButton icon={<UserAddOutlined />} onClick={() => setAdding(true)} testId="add-member">
            {t('members.add')}
          </CreateButton>
        }
      />
      {loadError && !members ? (
        <LoadError error={loadError} onRetry={() => void load()} />
      ) : (
        <Table<Member>
          rowKey="userId"
          columns={columns}
          dataSource={members ?? []}
          loading={members === null}
          pagination={false}
          scroll={{ x: 'max-content' }}
          onRow={(member) => tid(`member-row-${member.email}`)}
        />
      )}
      <AddMemberModal
        open={adding}
        assignable={assignable}
        onClose={() => setAdding(false)}
        onAdded={(member) => {
          void message.success(t('members.added', { email: member.email }));
          void load();
        }}
      />
    </div>
  );
}

interface AddMemberValues {
  email: string;
  role: Role;
  name?: string;
  password?: string;
}

function AddMemberModal(props: {
  open: boolean;
  assignable: Role[];
  onClose: () => void;
  onAdded: (member: Member) => void;
}): ReactNode {
  const t = useT();
  const ws = useWorkspace();
  const [form] = Form.useForm<AddMemberValues>();

  return (
    <FormModal
      open={props.open}
      title={t('members.add')}
      okText={t('members.add')}
      okTestId="member-add-ok"
      form={form}
      initialValues={{ role: 'developer' satisfies Role }}
      submit={(values) => {
        const name = values.name?.trim();
        return api.addMember(ws.workspaceId, {
          email: values.email.trim(),
          role: values.role,
          ...(name ? { name } : {}),
          ...(values.password ? { password: values.password } : {}),
        });
      }}
      onDone={props.onAdded}
      showOnField={(error) => {
        if (!isApiError(error, 'MEMBER_EXISTS')) {
          return showServerFieldError(form, t, error, ['email', 'role', 'name', 'password']);
        }
        form.setFields([{ name: 'email', errors: [errorText(t, error)] }]);
        return true;
      }}
      onClose={props.onClose}
    >
      <Form.Item
        name="email"
        label={t('members.email')}
        rules={[
          { required: true, message: t('members.emailInvalid') },
          { pattern: emailRe, message: t('members.emailInvalid') },
        ]}
      >
        <Input autoFocus autoComplete="off" data-testid="member-email-input" />
      </Form.Item>
      <Form.Item name="role" label={t('members.role')}>
        <Select
          data-testid="member-role-select"
          options={props.assignable.map((r) => ({ value: r, label: t(`role.${r}`) }))}
        />
      </Form.Item>
      <Form.Item
        name="name"
        label={
          <>
            {t('members.name')} <Typography.Text type="secondary">{t('common.optional')}</Typography.Text>
          </>
        }
        rules={[sharedRule(t, (v) => (v.trim() === '' ? null : checkName('name', v)))]}
      >
        <Input autoComplete="off" data-testid="member-name-input" />
      </Form.Item>
      <Form.Item
        name="password"
        label={t('members.password')}
        extra={t('members.passwordHelp')}
        rules={[{ min: 12, message: t('members.passwordTooShort') }]}
      >
        <Input.Password autoComplete="new-password" data-testid="member-password-input" />
      </Form.Item>
    </FormModal>
  );
}
