/** The call application list: the page `seed/manage-call-apps.zh.txt` describes. */
import { useCallback, useEffect, useState } from 'react';
import type { ReactNode } from 'react';
import { App as AntApp, Button, Form, Input, Space, Table, Tag, Tooltip, Typography } from 'antd';
import type { TableColumnsType } from 'antd';
import {
  CheckOutlined,
  CloseOutlined,
  DeleteOutlined,
  EditOutlined,
  EyeOutlined,
  FileTextOutlined,
  QuestionCircleOutlined,
  SearchOutlined,
} from '@ant-design/icons';
import { checkName } from '@parley/protocol';
import type { App, CallApp, CallAppList } from '@parley/protocol';
import { api, links } from '../api';
import { useT } from '../i18n';
import type { MessageKey } from '../i18n';
import { errorText, fieldIssueFromError, fieldIssueText } from '../errors';
import { sharedRule, showServerFieldError } from '../forms';
import { Link } from '../router';
import { paths } from '../routes';
import { useWorkspace } from '../session';
import { formatTime, tid, useDebounced } from '../util';
import {
  ConfirmAction,
  CopyableText,
  CreateButton,
  FormModal,
  LoadError,
  PageHeader,
  tablePagination,
} from '../components';
import { ViewKeyModal } from './Keys';
import { callAppSections } from './CallAppPage';
import type { CallAppSection } from './CallAppPage';

/** The pages of a call application each row links to. */
const sectionLinks: CallAppSection[] = ['config', 'rooms', 'callbacks', 'recordings'];

interface Query {
  search: string;
  page: number;
  pageSize: number;
}

export function CallAppsPage(props: { app: App }): ReactNode {
  const t = useT();
  const ws = useWorkspace();
  const { message } = AntApp.useApp();
  const { app } = props;
  const [searchText, setSearchText] = useState('');
  const debouncedSearch = useDebounced(searchText.trim(), 300);
  const [query, setQuery] = useState<Query>({ search: '', page: 1, pageSize: 20 });
  const [data, setData] = useState<CallAppList | null>(null);
  const [loading, setLoading] = useState(true);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [reloadTick, setReloadTick] = useState(0);
  const [renaming, setRenaming] = useState<string | null>(null);
  const [viewing, setViewing] = useState<CallApp | null>(null);
  const [creating, setCreating] = useState(false);

  // A new search starts again at page 1.
  useEffect(() => {
    setQuery((q) => (q.search === debouncedSearch ? q : { ...q, search: debouncedSearch, page: 1 }));
  }, [debouncedSearch]);

  useEffect(() => {
    let stale = false;
    setLoading(true);
    api
      .listCallApps(ws.workspaceId, app.appId, {
        ...(query.search !== '' ? { search: query.search } : {}),
        page: query.page,
        pageSize: query.pageSize,
      })
      .then(
        (list) => {
          if (stale) return;
          // A page that emptied (e.g. after a delete) falls back to the last page that has rows.
          if (list.items.length === 0 && list.total > 0 && query.page > 1) {
            setQuery((q) => ({ ...q, page: Math.max(1, Math.ceil(list.total / q.pageSize)) }));
            return;
          }
          setData(list);
          setLoadError(null);
          setLoading(false);
        },
        (error: unknown) => {
          if (stale) return;
          setLoadError(error);
          setLoading(false);
        },
      );
    return () => {
      stale = true;
    };
  }, [ws.workspaceId, app.appId, query, reloadTick]);

  const reload = useCallback(() => setReloadTick((n) => n + 1), []);

  const replaceRow = (updated: CallApp): void => {
    setData((d) =>
      d ? { ...d, items: d.items.map((c) => (c.bizName === updated.bizName ? updated : c)) } : d,
    );
  };

  const remove = async (callApp: CallApp): Promise<void> => {
    try {
      await api.deleteCallApp(ws.workspaceId, app.appId, callApp.bizName);
    } catch (error) {
      void message.error(errorText(t, error));
      return;
    }
    void message.success(t('callApps.deleted', { name: callApp.name }));
    reload();
  };

  const titleWithHelp = (title: MessageKey, help: MessageKey): ReactNode => (
    <Space size={4}>
      {t(title)}
      <Tooltip title={t(help)}>
        <QuestionCircleOutlined className="help-icon" />
      </Tooltip>
    </Space>
  );

  const columns: TableColumnsType<CallApp> = [
    {
      key: 'name',
      title: titleWithHelp('callApps.col.name', 'callApps.help.name'),
      onCell: () => tid('cell-name'),
      render: (_, callApp) =>
        renaming === callApp.bizName ? (
          <RenameEditor
            app={app}
            callApp={callApp}
            onCancel={() => setRenaming(null)}
            onDone={(updated) => {
              setRenaming(null);
              replaceRow(updated);
              void message.success(t('callApps.renamed'));
            }}
          />
        ) : (
          <span className="call-app-name">{callApp.name}</span>
        ),
    },
    {
      key: 'bizName',
      title: titleWithHelp('callApps.col.bizName', 'callApps.help.bizName'),
      onCell: () => tid('cell-bizName'),
      render: (_, callApp) => <CopyableText text={callApp.bizName} />,
    },
    {
      key: 'autoRecord',
      title: titleWithHelp('callApps.col.autoRecord', 'callApps.help.autoRecord'),
      onCell: () => tid('cell-autoRecord'),
      render: (_, callApp) =>
        callApp.autoRecord ? (
          <Tag color="success">{t('callApps.autoRecordOn')}</Tag>
        ) : (
          <Tag>{t('callApps.autoRecordOff')}</Tag>
        ),
    },
    {
      key: 'createdAt',
      title: t('callApps.col.createdAt'),
      onCell: () => tid('cell-createdAt'),
      render: (_, callApp) => <span className="nowrap">{formatTime(callApp.createdAt)}</span>,
    },
    {
      key: 'key',
      title: titleWithHelp('callApps.col.key', 'callApps.help.key'),
      onCell: () => tid('cell-key'),
      render: (_, callApp) => (
        <Space orientation="vertical" size={2}>
          <Typography.Text className="mono masked-key">{callApp.key.masked}</Typography.Text>
          <Space size={12} wrap>
            {ws.canEdit ? (
              <Button
                type="link"
                size="small"
                className="inline-link"
                icon={<EyeOutlined />}
                onClick={() => setViewing(callApp)}
                data-testid={`view-key-${callApp.bizName}`}
              >
                {t('callApps.viewKey')}
              </Button>
            ) : null}
            <a
              href={links.signingDocs}
              target="_blank"
              rel="noopener"
              data-testid={`view-docs-${callApp.bizName}`}
            >
              <FileTextOutlined /> {t('callApps.viewDocs')}
            </a>
          </Space>
        </Space>
      ),
    },
    {
      key: 'actions',
      title: t('callApps.col.actions'),
      render: (_, callApp) => (
        <Space size={[16, 4]} wrap className="row-actions">
          {sectionLinks.map((section) => (
            <Link
              key={section}
              to={paths[section](ws.workspaceId, app.appId, callApp.bizName)}
              data-testid={`${section}-${callApp.bizName}`}
            >
              {callAppSections[section].icon} {t(callAppSections[section].label)}
            </Link>
          ))}
          {ws.canEdit ? (
            <Button
              type="link"
              size="small"
              className="inline-link"
              icon={<EditOutlined />}
              onClick={() => setRenaming(callApp.bizName)}
              data-testid={`rename-${callApp.bizName}`}
            >
              {t('callApps.rename')}
            </Button>
          ) : null}
          {ws.canEdit ? (
            <ConfirmAction
              title={t('callApps.deleteTitle', { name: callApp.name })}
              body={t('callApps.deleteBody', { bizName: callApp.bizName })}
              okText={t('common.delete')}
              confirmTestId="confirm-delete"
              label={t('callApps.delete')}
              icon={<DeleteOutlined />}
              testId={`delete-${callApp.bizName}`}
              onConfirm={() => remove(callApp)}
            />
          ) : null}
        </Space>
      ),
    },
  ];

  return (
    <div>
      <PageHeader
        title={t('callApps.title')}
        intro={t('callApps.intro')}
        extra={
          ws.canEdit ? (
            <CreateButton onClick={() => setCreating(true)} testId="create-call-app">
              {t('callApps.create')}
            </CreateButton>
          ) : null
        }
      />
      <div className="toolbar">
        <Input
          allowClear
          prefix={<SearchOutlined />}
          placeholder={t('callApps.searchPlaceholder')}
          value={searchText}
          onChange={(e) => setSearchText(e.target.value)}
          style={{ width: 320 }}
          data-testid="call-app-search"
          aria-label={t('callApps.searchPlaceholder')}
        />
      </div>
      {loadError && !data ? (
        <LoadError error={loadError} onRetry={reload} />
      ) : (
        <Table<CallApp>
          rowKey="bizName"
          columns={columns}
          dataSource={data?.items ?? []}
          loading={loading}
          onRow={(callApp) => tid(`call-app-row-${callApp.bizName}`)}
          locale={{
            emptyText:
              query.search !== '' ? t('callApps.emptySearch', { search: query.search }) : t('callApps.empty'),
          }}
          scroll={{ x: 'max-content' }}
          pagination={tablePagination(t, {
            current: data?.page ?? query.page,
            pageSize: query.pageSize,
            total: data?.total ?? 0,
            pageSizeOptions: [10, 20, 50, 100],
            setPaging: (change) => setQuery((q) => ({ ...q, ...change(q) })),
          })}
        />
      )}
      <CreateCallAppModal
        open={creating}
        app={app}
        onClose={() => setCreating(false)}
        onCreated={(created) => {
          void message.success(t('callApps.created', { name: created.name }));
          setSearchText('');
          setQuery((q) => ({ ...q, search: '', page: 1 }));
          reload();
        }}
      />
      {viewing ? <ViewKeyModal app={app} callApp={viewing} onClose={() => setViewing(null)} /> : null}
    </div>
  );
}

function RenameEditor(props: {
  app: App;
  callApp: CallApp;
  onCancel: () => void;
  onDone: (updated: CallApp) => void;
}): ReactNode {
  const t = useT();
  const ws = useWorkspace();
  const { message } = AntApp.useApp();
  const [value, setValue] = useState(props.callApp.name);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const save = async (): Promise<void> => {
    const issue = checkName('name', value);
    if (issue) {
      setError(fieldIssueText(t, issue));
      return;
    }
    const name = value.trim();
    if (name === props.callApp.name) {
      props.onCancel();
      return;
    }
    setBusy(true);
    try {
      const updated = await api.renameCallApp(ws.workspaceId, props.app.appId, props.callApp.bizName, name);
      props.onDone(updated);
    } catch (err) {
      const fieldIssue = fieldIssueFromError(err);
      if (fieldIssue) setError(fieldIssueText(t, fieldIssue));
      else void message.error(errorText(t, err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="rename-editor">
      <Space.Compact>
        <Input
          autoFocus
          value={value}
          status={error ? 'error' : ''}
          onChange={(e) => {
            setValue(e.target.value);
            setError(null);
          }}
          onPressEnter={() => void save()}
          onKeyDown={(e) => {
            if (e.key === 'Escape') props.onCancel();
          }}
          aria-label={t('callApps.name')}
          data-testid="rename-input"
          style={{ width: 200 }}
        />
        <Tooltip title={t('common.save')}>
          <Button
            type="primary"
            icon={<CheckOutlined />}
            loading={busy}
            onClick={() => void save()}
            data-testid="rename-save"
          />
        </Tooltip>
        <Tooltip title={t('common.cancel')}>
          <Button icon={<CloseOutlined />} onClick={props.onCancel} data-testid="rename-cancel" />
        </Tooltip>
      </Space.Compact>
      {error ? (
        <div className="field-error" data-testid="rename-error">
          {error}
        </div>
      ) : null}
    </div>
  );
}

function CreateCallAppModal(props: {
  open: boolean;
  app: App;
  onClose: () => void;
  onCreated: (created: CallApp) => void;
}): ReactNode {
  const t = useT();
  const ws = useWorkspace();
  const [form] = Form.useForm<{ name: string }>();

  return (
    <FormModal
      open={props.open}
      title={t('callApps.createTitle')}
      okTestId="call-app-create-ok"
      form={form}
      submit={(values) => api.createCallApp(ws.workspaceId, props.app.appId, values.name.trim())}
      onDone={props.onCreated}
      showOnField={(error) => showServerFieldError(form, t, error, ['name'])}
      onClose={props.onClose}
    >
      <Form.Item
        name="name"
        label={t('callApps.name')}
        extra={t('callApps.createHint')}
        rules={[sharedRule(t, (v) => checkName('name', v))]}
      >
        <Input
          autoFocus
          autoComplete="off"
          placeholder={t('callApps.namePlaceholder')}
          data-testid="call-app-name-input"
        />
      </Form.Item>
    </FormModal>
  );
}
