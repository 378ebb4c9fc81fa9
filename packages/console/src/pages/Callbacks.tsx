/**
 * 回调记录: the delivery log of a call application's room-status and recording callbacks, with
 * every attempt, re-read every 5 s while the tab is visible. Developers and up can redeliver an
 * event (same bizRequestId, a fresh run of retries).
 */
import { useCallback, useEffect, useMemo, useState } from 'react';
import type { ReactNode } from 'react';
import {
  Alert,
  App as AntApp,
  Button,
  Descriptions,
  Input,
  Select,
  Space,
  Table,
  Tag,
  Timeline,
  Tooltip,
  Typography,
} from 'antd';
import type { TableColumnsType } from 'antd';
import {
  CheckCircleOutlined,
  ClockCircleOutlined,
  CloseCircleOutlined,
  RedoOutlined,
  ReloadOutlined,
  SyncOutlined,
} from '@ant-design/icons';
import type {
  App,
  CallApp,
  CallbackDelivery,
  CallbackDeliveryList,
  CallbackDeliveryQuery,
} from '@parley/protocol';
import { api, isApiError } from '../api';
import { isMessageKey, useT } from '../i18n';
import type { MessageKey, Translate } from '../i18n';
import { errorText } from '../errors';
import { useWorkspace } from '../session';
import { CopyButton, formatTime, tid, useDebounced } from '../util';
import { actionsColumn, ConfirmAction, CopyableText, LoadError, tablePagination } from '../components';
import { CallAppPage, CallAppPageStatus, useLiveList } from './CallAppPage';

type Kind = CallbackDelivery['kind'];
type Status = CallbackDelivery['status'];
type Attempt = CallbackDelivery['attemptLog'][number];

/** How often the log is re-read while the tab is visible. */
const refreshMs = 5000;

/** mPaaS room-status event codes. */
export const roomEventCodes = [1, 2, 3, 4] as const;
/** mPaaS recording event codes (1000xx start, 1001xx running, 1002xx finishing failures). */
export const recordingEventCodes = [
  0, 10, 11, 50, 99, 500301, 500302, 100001, 100002, 100003, 100004, 100005, 100006, 100007, 100101, 100102,
  100103, 100104, 100105, 100106, 100201,
] as const;

// Compile-time check: every listed event code has a name in both languages.
type CodeKey =
  | `callbacks.code.room.${(typeof roomEventCodes)[number]}`
  | `callbacks.code.recording.${(typeof recordingEventCodes)[number]}`;
const everyCodeHasAName: Exclude<CodeKey, MessageKey> extends never ? true : never = true;
void everyCodeHasAName;

const codesOf: Record<Kind, readonly number[]> = { room: roomEventCodes, recording: recordingEventCodes };

/** The meaning of an event code, e.g. "User joined"; '' for a code not in the contract. */
export function eventCodeName(t: Translate, kind: Kind, code: number): string {
  const key = `callbacks.code.${kind}.${code}`;
  if (isMessageKey(key)) return t(key);
  const family = `callbacks.codeFamily.${Math.floor(code / 100)}`;
  return kind === 'recording' && isMessageKey(family) ? t(family) : '';
}

const statuses = ['pending', 'delivering', 'succeeded', 'failed'] as const satisfies readonly Status[];
const kinds = ['room', 'recording'] as const satisfies readonly Kind[];

const statusLook: Record<Status, { color: string; icon: ReactNode }> = {
  pending: { color: 'default', icon: <ClockCircleOutlined /> },
  delivering: { color: 'processing', icon: <SyncOutlined spin /> },
  succeeded: { color: 'success', icon: <CheckCircleOutlined /> },
  failed: { color: 'error', icon: <CloseCircleOutlined /> },
};

export function StatusTag(props: { delivery: CallbackDelivery }): ReactNode {
  const t = useT();
  const { status, nextAttemptAt } = props.delivery;
  const tag = (
    <Tag color={statusLook[status].color} icon={statusLook[status].icon} data-status={status}>
      {t(`callbacks.status.${status}`)}
    </Tag>
  );
  return status === 'pending' && nextAttemptAt !== null ? (
    <Tooltip title={t('callbacks.nextAttempt', { time: formatTime(nextAttemptAt) })}>{tag}</Tooltip>
  ) : (
    tag
  );
}

interface Filters {
  status?: Status | undefined;
  kind?: Kind | undefined;
  eventCode?: number | undefined;
  roomId: string;
  uid: string;
}

const noFilters: Filters = { roomId: '', uid: '' };

interface LogPage {
  list: CallbackDeliveryList;
  /** The query it answers: while it differs from the current one the table shows a spinner. */
  key: string;
}

export function CallbacksPage(props: { app: App; bizName: string }): ReactNode {
  const t = useT();
  const ws = useWorkspace();
  const { message } = AntApp.useApp();
  const { app, bizName } = props;
  const [callApp, setCallApp] = useState<CallApp | null>(null);
  const [pageError, setPageError] = useState<unknown>(null);
  const [filters, setFilters] = useState<Filters>(noFilters);
  const [paging, setPaging] = useState({ page: 1, pageSize: 50 });

  const roomId = useDebounced(filters.roomId.trim(), 300);
  const uid = useDebounced(filters.uid.trim(), 300);
  const query = useMemo<CallbackDeliveryQuery>(() => {
    const q: CallbackDeliveryQuery = { page: paging.page, pageSize: paging.pageSize };
    if (filters.status) q.status = filters.status;
    if (filters.kind) q.kind = filters.kind;
    if (filters.eventCode !== undefined) q.eventCode = filters.eventCode;
    if (roomId) q.roomId = roomId;
    if (uid) q.uid = uid;
    return q;
  }, [filters.status, filters.kind, filters.eventCode, roomId, uid, paging]);
  const queryKey = JSON.stringify(query);
  const filtered = Object.keys(query).length > 2;

  const {
    answer,
    error: listError,
    refresh,
    refreshNow,
    refreshing,
    update: updateAnswer,
  } = useLiveList(
    useCallback(
      async (): Promise<LogPage> => ({
        list: await api.listCallbacks(ws.workspaceId, app.appId, bizName, query),
        key: JSON.stringify(query),
      }),
      [ws.workspaceId, app.appId, bizName, query],
    ),
    { intervalMs: refreshMs, paused: Boolean(pageError), onNotFound: setPageError },
  );

  const loadCallApp = useCallback(async (): Promise<void> => {
    setPageError(null);
    try {
      setCallApp(await api.getCallApp(ws.workspaceId, app.appId, bizName));
    } catch (error) {
      setPageError(error);
    }
  }, [ws.workspaceId, app.appId, bizName]);

  useEffect(() => {
    void loadCallApp();
  }, [loadCallApp]);

  // The first read, and a new one whenever the filters or the page change.
  useEffect(() => {
    void refresh();
  }, [refresh]);

  /** A filter changed: back to the first page. */
  const filter = (change: Partial<Filters>): void => {
    setFilters((f) => ({ ...f, ...change }));
    setPaging((p) => (p.page === 1 ? p : { ...p, page: 1 }));
  };

  const redeliver = async (delivery: CallbackDelivery): Promise<void> => {
    try {
      const updated = await api.redeliverCallback(ws.workspaceId, app.appId, bizName, delivery.eventId);
      void message.success(t('callbacks.redelivered', { bizRequestId: delivery.bizRequestId }));
      updateAnswer((a) => ({
        ...a,
        list: { ...a.list, items: a.list.items.map((d) => (d.eventId === updated.eventId ? updated : d)) },
      }));
    } catch (error) {
      void message.error(errorText(t, error));
      if (!isApiError(error, 'CALLBACK_NOT_FOUND')) return;
    }
    void refresh();
  };

  if (pageError || !callApp) {
    return (
      <CallAppPageStatus
        app={app}
        bizName={bizName}
        section="callbacks"
        callApp={callApp}
        error={pageError}
        onRetry={() => void loadCallApp()}
      />
    );
  }

  const codeOptions = (filters.kind ? [filters.kind] : kinds).map((kind) => ({
    label: t(`callbacks.kind.${kind}`),
    title: kind,
    options: codesOf[kind].map((code) => ({
      value: code,
      label: `${code} · ${eventCodeName(t, kind, code)}`,
    })),
  }));

  const columns: TableColumnsType<CallbackDelivery> = [
    {
      key: 'time',
      title: t('callbacks.col.time'),
      render: (_, d) => <span className="nowrap">{formatTime(d.createdAt)}</span>,
    },
    {
      key: 'kind',
      title: t('callbacks.col.kind'),
      render: (_, d) => (
        <Tag bordered={false} color={d.kind === 'room' ? 'blue' : 'purple'}>
          {t(`callbacks.kind.${d.kind}`)}
        </Tag>
      ),
    },
    {
      key: 'eventCode',
      title: t('callbacks.col.eventCode'),
      render: (_, d) => (
        <span className="nowrap">
          <Typography.Text className="mono">{d.eventCode}</Typography.Text>{' '}
          <Typography.Text type="secondary">{eventCodeName(t, d.kind, d.eventCode)}</Typography.Text>
        </span>
      ),
    },
    {
      key: 'roomId',
      title: t('callbacks.col.roomId'),
      render: (_, d) => (d.roomId ? <CopyableText text={d.roomId} /> : null),
    },
    {
      key: 'uid',
      title: t('callbacks.col.uid'),
      render: (_, d) => <Typography.Text className="mono">{d.uid}</Typography.Text>,
    },
    {
      key: 'status',
      title: t('callbacks.col.status'),
      render: (_, d) => <StatusTag delivery={d} />,
    },
    {
      key: 'attempts',
      title: t('callbacks.col.attempts'),
      align: 'right',
      render: (_, d) => <span className="mono">{d.attempts}</span>,
    },
    {
      key: 'lastError',
      title: t('callbacks.col.lastError'),
      render: (_, d) =>
        d.lastError ? (
          <Typography.Text type="danger" className="last-error" ellipsis={{ tooltip: d.lastError }}>
            {d.lastError}
          </Typography.Text>
        ) : null,
    },
    ...actionsColumn(t, ws.canEdit, (d: CallbackDelivery) => (
      <ConfirmAction
        danger={false}
        title={t('callbacks.redeliverTitle')}
        body={t('callbacks.redeliverBody', { url: d.url, bizRequestId: d.bizRequestId })}
        okText={t('callbacks.redeliver')}
        confirmTestId="confirm-redeliver"
        label={t('callbacks.redeliver')}
        icon={<RedoOutlined />}
        testId={`callback-redeliver-${d.eventId}`}
        disabled={d.status === 'delivering'}
        onConfirm={() => redeliver(d)}
      />
    )),
  ];

  return (
    <CallAppPage
      app={app}
      bizName={bizName}
      section="callbacks"
      callApp={callApp}
      intro={t('callbacks.intro')}
      links={['config']}
    >
      <div className="toolbar filters">
        <Select<Status>
          allowClear
          placeholder={t('callbacks.filter.status')}
          style={{ width: 150 }}
          value={filters.status}
          onChange={(status) => filter({ status })}
          options={statuses.map((s) => ({ value: s, label: t(`callbacks.status.${s}`) }))}
          data-testid="callback-filter-status"
        />
        <Select<Kind>
          allowClear
          placeholder={t('callbacks.filter.kind')}
          style={{ width: 150 }}
          value={filters.kind}
          onChange={(kind) =>
            filter({
              kind,
              ...(kind && filters.eventCode !== undefined && !codesOf[kind].includes(filters.eventCode)
                ? { eventCode: undefined }
                : {}),
            })
          }
          options={kinds.map((k) => ({ value: k, label: t(`callbacks.kind.${k}`) }))}
          data-testid="callback-filter-kind"
        />
        <Select<number>
          allowClear
          showSearch={{ optionFilterProp: 'label' }}
          placeholder={t('callbacks.filter.eventCode')}
          style={{ width: 260 }}
          listHeight={400}
          value={filters.eventCode}
          onChange={(eventCode) => filter({ eventCode })}
          options={codeOptions}
          data-testid="callback-filter-eventCode"
        />
        <Input
          allowClear
          placeholder={t('callbacks.filter.roomId')}
          style={{ width: 180 }}
          maxLength={128}
          value={filters.roomId}
          onChange={(event) => filter({ roomId: event.target.value })}
          data-testid="callback-filter-roomId"
        />
        <Input
          allowClear
          placeholder={t('callbacks.filter.uid')}
          style={{ width: 150 }}
          maxLength={128}
          value={filters.uid}
          onChange={(event) => filter({ uid: event.target.value })}
          data-testid="callback-filter-uid"
        />
        <Button
          onClick={() => {
            setFilters(noFilters);
            setPaging((p) => ({ ...p, page: 1 }));
          }}
          data-testid="callback-filter-reset"
        >
          {t('common.reset')}
        </Button>
        <Button
          icon={<ReloadOutlined />}
          loading={refreshing}
          onClick={() => void refreshNow()}
          data-testid="callbacks-refresh"
        >
          {t('callbacks.refresh')}
        </Button>
        {answer ? (
          <Typography.Text type="secondary" className="small toolbar-note">
            {t('callbacks.autoRefresh', { time: formatTime(answer.receivedAt) })}
          </Typography.Text>
        ) : null}
      </div>
      {listError && answer ? (
        <Alert
          type="warning"
          showIcon
          className="section-alert"
          title={t('callbacks.refreshFailed', { error: errorText(t, listError) })}
        />
      ) : null}
      {listError && !answer ? (
        <LoadError error={listError} onRetry={() => void refreshNow()} />
      ) : (
        <Table<CallbackDelivery>
          rowKey="eventId"
          columns={columns}
          dataSource={answer?.list.items ?? []}
          loading={!listError && (answer === null || answer.key !== queryKey)}
          scroll={{ x: 'max-content' }}
          onRow={(d) => tid(`callback-row-${d.eventId}`)}
          locale={{ emptyText: filtered ? t('callbacks.emptyFiltered') : t('callbacks.empty') }}
          expandable={{ expandedRowRender: (d) => <DeliveryDetail delivery={d} /> }}
          pagination={tablePagination(t, {
            current: paging.page,
            pageSize: paging.pageSize,
            total: answer?.list.total ?? 0,
            pageSizeOptions: [20, 50, 100, 200],
            setPaging,
          })}
        />
      )}
    </CallAppPage>
  );
}

/** The expanded row: ids, URL, the exact body sent, and one timeline entry per attempt. */
function DeliveryDetail(props: { delivery: CallbackDelivery }): ReactNode {
  const t = useT();
  const d = props.delivery;
  const payload = JSON.stringify(d.payload, null, 2);
  const attempts = d.attemptLog.map((a) => ({
    key: a.attempt,
    color: a.success ? 'green' : 'red',
    content: <AttemptEntry eventId={d.eventId} attempt={a} />,
  }));
  const upcoming =
    d.status === 'delivering'
      ? [{ key: 'next', loading: true, content: t('callbacks.status.delivering') }]
      : d.status === 'pending' && d.nextAttemptAt !== null
        ? [
            {
              key: 'next',
              loading: true,
              content: t('callbacks.nextAttempt', { time: formatTime(d.nextAttemptAt) }),
            },
          ]
        : [];
  return (
    <div className="callback-detail" data-testid={`callback-detail-${d.eventId}`}>
      <Descriptions
        size="small"
        column={1}
        bordered
        className="callback-facts"
        items={[
          {
            key: 'bizRequestId',
            label: t('callbacks.detail.bizRequestId'),
            children: <CopyableText text={d.bizRequestId} />,
          },
          {
            key: 'url',
            label: t('callbacks.detail.url'),
            children: <CopyableText text={d.url} breakAll />,
          },
          ...(d.completedAt !== null
            ? [
                {
                  key: 'completedAt',
                  label: t('callbacks.detail.completedAt'),
                  children: formatTime(d.completedAt),
                },
              ]
            : []),
        ]}
      />
      <div className="callback-detail-grid">
        <div>
          <Space className="callback-detail-head">
            <Typography.Text strong>{t('callbacks.detail.payload')}</Typography.Text>
            <CopyButton
              type="link"
              text={payload}
              label={t('callbacks.detail.copyPayload')}
              testId={`callback-payload-copy-${d.eventId}`}
            />
          </Space>
          <pre className="json mono" data-testid={`callback-payload-${d.eventId}`}>
            {payload}
          </pre>
        </div>
        <div>
          <div className="callback-detail-head">
            <Typography.Text strong>{t('callbacks.detail.attempts')}</Typography.Text>
          </div>
          {attempts.length + upcoming.length === 0 ? (
            <Typography.Text type="secondary">{t('callbacks.detail.noAttempts')}</Typography.Text>
          ) : (
            <Timeline className="attempts" items={[...attempts, ...upcoming]} />
          )}
        </div>
      </div>
    </div>
  );
}

function AttemptEntry(props: { eventId: number; attempt: Attempt }): ReactNode {
  const t = useT();
  const a = props.attempt;
  return (
    <div data-testid={`callback-attempt-${props.eventId}-${a.attempt}`} data-success={a.success}>
      <div>
        <Typography.Text type="secondary" className="small nowrap">
          {formatTime(a.startedAt)}
        </Typography.Text>
      </div>
      <Space size={[8, 4]} wrap>
        <Typography.Text strong>{t('callbacks.attempt.title', { n: a.attempt })}</Typography.Text>
        <Tag color={a.success ? 'success' : 'error'} bordered={false}>
          {a.success ? t('callbacks.attempt.success') : t('callbacks.attempt.failure')}
        </Tag>
        <Tag className="mono" bordered={false}>
          {a.statusCode !== null
            ? t('callbacks.attempt.status', { code: a.statusCode })
            : t('callbacks.attempt.noStatus')}
        </Tag>
        <Typography.Text type="secondary" className="mono small">
          {t('callbacks.attempt.latency', { ms: Math.round(a.durationMs) })}
        </Typography.Text>
      </Space>
      {a.error ? (
        <div>
          <Typography.Text type="danger" className="small">
            {a.error}
          </Typography.Text>
        </div>
      ) : null}
      {a.responseExcerpt ? (
        <pre className="json mono excerpt" title={t('callbacks.attempt.response')}>
          {a.responseExcerpt}
        </pre>
      ) : null}
    </div>
  );
}
