/**
 * 录制文件: the cloud recordings of a call application, newest first, filtered and paged by the
 * server. Re-read every 3 s while one of them is recording or finishing (every 15 s otherwise)
 * while the tab is visible. Everyone can play a file (same-origin <video>, the session cookie
 * authorises it) and download it; developers and up can delete a finished or failed one.
 */
import { useCallback, useEffect, useMemo, useState } from 'react';
import type { ReactNode } from 'react';
import {
  Alert,
  App as AntApp,
  Button,
  Input,
  Modal,
  Select,
  Space,
  Table,
  Tag,
  Tooltip,
  Typography,
} from 'antd';
import type { TableColumnsType } from 'antd';
import {
  CheckCircleOutlined,
  CloseCircleOutlined,
  DeleteOutlined,
  DownloadOutlined,
  ExclamationCircleOutlined,
  PlayCircleOutlined,
  ReloadOutlined,
  SyncOutlined,
  VideoCameraOutlined,
} from '@ant-design/icons';
import type {
  App,
  CallApp,
  Recording,
  RecordingList,
  RecordingListQuery,
  RecordingMediaType,
  RecordingStatus,
} from '@parley/protocol';
import { api, isApiError, links } from '../api';
import { useT } from '../i18n';
import type { Translate } from '../i18n';
import { errorText } from '../errors';
import { useWorkspace } from '../session';
import { formatBytes, formatElapsed, formatTime, tid, useDebounced } from '../util';
import { ConfirmAction, CopyableText, LoadError, tablePagination } from '../components';
import { CallAppPage, CallAppPageStatus, useLiveList } from './CallAppPage';
import { eventCodeName } from './Callbacks';

/** How often the list is re-read while a recording is in progress, and otherwise. */
const activeRefreshMs = 3000;
const idleRefreshMs = 15000;

/** The recording failure code meaning "upload to object storage failed": the file stays on the server. */
export const uploadFailedCode = 100201;

const statuses = ['recording', 'finishing', 'done', 'failed'] as const satisfies readonly RecordingStatus[];
export const mediaTypes = [0, 1, 2] as const satisfies readonly RecordingMediaType[];

const statusLook: Record<RecordingStatus, { color: string; icon: ReactNode }> = {
  recording: { color: 'red', icon: <VideoCameraOutlined /> },
  finishing: { color: 'processing', icon: <SyncOutlined spin /> },
  done: { color: 'success', icon: <CheckCircleOutlined /> },
  failed: { color: 'error', icon: <CloseCircleOutlined /> },
};

function isActive(recording: Recording): boolean {
  return recording.status === 'recording' || recording.status === 'finishing';
}

/** "100102 Could not convert the recording file format". */
function failureTitle(t: Translate, code: number): string {
  return `${code} ${eventCodeName(t, 'recording', code)}`.trim();
}

/** The status tag, and under it what went wrong: the failure of a failed one, a failed upload of a done one. */
function RecordingStatusCell(props: { recording: Recording }): ReactNode {
  const t = useT();
  const r = props.recording;
  const uploadFailed = r.status === 'done' && r.failureCode !== null;
  const look = uploadFailed
    ? { color: 'warning', icon: <ExclamationCircleOutlined /> }
    : statusLook[r.status];
  return (
    <div className="recording-status">
      <Tag color={look.color} icon={look.icon} data-status={r.status}>
        {t(`recordings.status.${r.status}`)}
      </Tag>
      {r.status === 'failed' ? (
        <div className="recording-failure" data-testid={`recording-failure-${r.recordId}`}>
          <Typography.Text type="danger" className="small">
            {r.failureCode !== null ? failureTitle(t, r.failureCode) : t('recordings.failedNoCode')}
          </Typography.Text>
          {r.failureMessage ? (
            <Typography.Text
              type="secondary"
              className="small recording-failure-message"
              ellipsis={{ tooltip: r.failureMessage }}
            >
              {r.failureMessage}
            </Typography.Text>
          ) : null}
        </div>
      ) : null}
      {uploadFailed ? (
        <div className="recording-failure" data-testid={`recording-failure-${r.recordId}`}>
          <Typography.Text type="warning" className="small">
            {r.failureCode === uploadFailedCode
              ? t('recordings.uploadFailedKept')
              : failureTitle(t, r.failureCode ?? 0)}
          </Typography.Text>
          {r.failureMessage ? (
            <Typography.Text
              type="secondary"
              className="small recording-failure-message"
              ellipsis={{ tooltip: r.failureMessage }}
            >
              {r.failureMessage}
            </Typography.Text>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}

interface Filters {
  status?: RecordingStatus | undefined;
  roomId: string;
}

const noFilters: Filters = { roomId: '' };

interface ListPage {
  list: RecordingList;
  /** The query it answers: while it differs from the current one the table shows a spinner. */
  key: string;
}

export function RecordingsPage(props: { app: App; bizName: string }): ReactNode {
  const t = useT();
  const ws = useWorkspace();
  const { message } = AntApp.useApp();
  const { app, bizName } = props;
  const [callApp, setCallApp] = useState<CallApp | null>(null);
  const [pageError, setPageError] = useState<unknown>(null);
  const [filters, setFilters] = useState<Filters>(noFilters);
  const [paging, setPaging] = useState({ page: 1, pageSize: 20 });
  const [playing, setPlaying] = useState<Recording | null>(null);
  const [anyActive, setAnyActive] = useState(false);

  const roomId = useDebounced(filters.roomId.trim(), 300);
  const query = useMemo<RecordingListQuery>(() => {
    const q: RecordingListQuery = { page: paging.page, pageSize: paging.pageSize };
    if (filters.status) q.status = filters.status;
    if (roomId) q.roomId = roomId;
    return q;
  }, [filters.status, roomId, paging]);
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
    useCallback(async (): Promise<ListPage> => {
      const list = await api.listRecordings(ws.workspaceId, app.appId, bizName, query);
      setAnyActive(list.items.some(isActive));
      return { list, key: JSON.stringify(query) };
    }, [ws.workspaceId, app.appId, bizName, query]),
    {
      intervalMs: anyActive ? activeRefreshMs : idleRefreshMs,
      paused: Boolean(pageError),
      onNotFound: setPageError,
    },
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

  const remove = async (recording: Recording): Promise<void> => {
    try {
      await api.deleteRecording(ws.workspaceId, app.appId, bizName, recording.recordId);
    } catch (error) {
      void message.error(errorText(t, error));
      if (isApiError(error, 'RECORDING_NOT_FOUND') || isApiError(error, 'RECORDING_ACTIVE')) void refresh();
      return;
    }
    void message.success(t('recordings.deleted', { roomId: recording.roomId }));
    updateAnswer((a) => ({
      ...a,
      list: {
        ...a.list,
        items: a.list.items.filter((r) => r.recordId !== recording.recordId),
        total: Math.max(0, a.list.total - 1),
      },
    }));
    void refresh();
  };

  if (pageError || !callApp) {
    return (
      <CallAppPageStatus
        app={app}
        bizName={bizName}
        section="recordings"
        callApp={callApp}
        error={pageError}
        onRetry={() => void loadCallApp()}
      />
    );
  }

  const dash = <Typography.Text type="secondary">—</Typography.Text>;

  const columns: TableColumnsType<Recording> = [
    {
      key: 'roomId',
      title: t('recordings.col.roomId'),
      render: (_, r) => <CopyableText text={r.roomId} />,
    },
    {
      key: 'startedAt',
      title: t('recordings.col.startedAt'),
      render: (_, r) => <span className="nowrap">{formatTime(r.startedAt)}</span>,
    },
    {
      key: 'duration',
      title: t('recordings.col.duration'),
      render: (_, r) =>
        r.durationMs !== null ? <span className="mono nowrap">{formatElapsed(r.durationMs)}</span> : dash,
    },
    {
      key: 'size',
      title: t('recordings.col.size'),
      align: 'right',
      render: (_, r) =>
        r.sizeBytes !== null ? <span className="mono nowrap">{formatBytes(r.sizeBytes)}</span> : dash,
    },
    {
      key: 'mediaType',
      title: t('recordings.col.mediaType'),
      render: (_, r) => (
        <span className="nowrap" data-media-type={r.mediaType}>
          {t(`recordings.mediaType.${r.mediaType}`)}
        </span>
      ),
    },
    {
      key: 'status',
      title: t('recordings.col.status'),
      render: (_, r) => <RecordingStatusCell recording={r} />,
    },
    {
      key: 'storage',
      title: t('recordings.col.storage'),
      render: (_, r) =>
        r.storage !== null ? (
          <span className="nowrap" data-storage={r.storage}>
            {t(`recordings.storage.${r.storage}`)}
          </span>
        ) : (
          dash
        ),
    },
    {
      key: 'trigger',
      title: t('recordings.col.trigger'),
      render: (_, r) => (
        <Tag bordered={false} color={r.trigger === 'auto' ? 'blue' : 'purple'} data-trigger={r.trigger}>
          {t(`recordings.trigger.${r.trigger}`)}
        </Tag>
      ),
    },
    {
      key: 'actions',
      title: t('common.actions'),
      render: (_, r) => (
        <Space size={[12, 4]} wrap className="row-actions">
          <Button
            type="link"
            size="small"
            className="inline-link"
            icon={<PlayCircleOutlined />}
            disabled={r.fileUrl === null}
            onClick={() => setPlaying(r)}
            data-testid={`recording-play-${r.recordId}`}
          >
            {t('recordings.play')}
          </Button>
          {r.fileUrl !== null ? (
            <a
              href={links.recordingDownload(r.fileUrl)}
              download
              className="nowrap"
              data-testid={`recording-download-${r.recordId}`}
            >
              <DownloadOutlined /> {t('recordings.download')}
            </a>
          ) : (
            <Button
              type="link"
              size="small"
              className="inline-link"
              icon={<DownloadOutlined />}
              disabled
              data-testid={`recording-download-${r.recordId}`}
            >
              {t('recordings.download')}
            </Button>
          )}
          {ws.canEdit ? (
            <Tooltip title={isActive(r) ? t('recordings.deleteActive') : undefined}>
              <span>
                <ConfirmAction
                  title={t('recordings.deleteTitle')}
                  body={t('recordings.deleteBody', { roomId: r.roomId, time: formatTime(r.startedAt) })}
                  okText={t('common.delete')}
                  confirmTestId="confirm-recording-delete"
                  label={t('common.delete')}
                  icon={<DeleteOutlined />}
                  testId={`recording-delete-${r.recordId}`}
                  disabled={isActive(r)}
                  onConfirm={() => remove(r)}
                />
              </span>
            </Tooltip>
          ) : null}
        </Space>
      ),
    },
  ];

  return (
    <CallAppPage
      app={app}
      bizName={bizName}
      section="recordings"
      callApp={callApp}
      intro={t('recordings.intro')}
      links={['config', 'rooms']}
    >
      <div className="toolbar filters">
        <Select<RecordingStatus>
          allowClear
          placeholder={t('recordings.filter.status')}
          style={{ width: 150 }}
          value={filters.status}
          onChange={(status) => filter({ status })}
          options={statuses.map((s) => ({ value: s, label: t(`recordings.status.${s}`) }))}
          data-testid="recording-filter-status"
        />
        <Input
          allowClear
          placeholder={t('recordings.filter.roomId')}
          style={{ width: 180 }}
          maxLength={128}
          value={filters.roomId}
          onChange={(event) => filter({ roomId: event.target.value })}
          data-testid="recording-filter-roomId"
        />
        <Button
          onClick={() => {
            setFilters(noFilters);
            setPaging((p) => ({ ...p, page: 1 }));
          }}
          data-testid="recording-filter-reset"
        >
          {t('common.reset')}
        </Button>
        <Button
          icon={<ReloadOutlined />}
          loading={refreshing}
          onClick={() => void refreshNow()}
          data-testid="recordings-refresh"
        >
          {t('recordings.refresh')}
        </Button>
        {answer ? (
          <Typography.Text type="secondary" className="small toolbar-note">
            {t('recordings.autoRefresh', { time: formatTime(answer.receivedAt) })}
          </Typography.Text>
        ) : null}
      </div>
      {listError && answer ? (
        <Alert
          type="warning"
          showIcon
          className="section-alert"
          title={t('recordings.refreshFailed', { error: errorText(t, listError) })}
        />
      ) : null}
      {listError && !answer ? (
        <LoadError error={listError} onRetry={() => void refreshNow()} />
      ) : (
        <Table<Recording>
          rowKey="recordId"
          columns={columns}
          dataSource={answer?.list.items ?? []}
          loading={!listError && (answer === null || answer.key !== queryKey)}
          scroll={{ x: 'max-content' }}
          onRow={(r) => tid(`recording-row-${r.recordId}`)}
          locale={{ emptyText: filtered ? t('recordings.emptyFiltered') : t('recordings.empty') }}
          pagination={tablePagination(t, {
            current: paging.page,
            pageSize: paging.pageSize,
            total: answer?.list.total ?? 0,
            pageSizeOptions: [10, 20, 50, 100],
            setPaging,
          })}
        />
      )}
      <RecordingPlayer recording={playing} onClose={() => setPlaying(null)} />
    </CallAppPage>
  );
}

/** A recording's file in a <video>, in a modal with a download link. */
function RecordingPlayer(props: { recording: Recording | null; onClose: () => void }): ReactNode {
  const t = useT();
  const r = props.recording;
  return (
    <Modal
      open={r !== null}
      title={r ? t('recordings.playTitle', { roomId: r.roomId, time: formatTime(r.startedAt) }) : null}
      width={800}
      onCancel={props.onClose}
      destroyOnHidden
      footer={
        r?.fileUrl ? (
          <Space>
            <a href={links.recordingDownload(r.fileUrl)} download data-testid="recording-player-download">
              <DownloadOutlined /> {t('recordings.download')}
            </a>
            <Button onClick={props.onClose} data-testid="recording-player-close">
              {t('common.close')}
            </Button>
          </Space>
        ) : null
      }
    >
      {r?.fileUrl ? <RecordingVideo key={r.recordId} fileUrl={r.fileUrl} /> : null}
    </Modal>
  );
}

/** Same origin: the session cookie authorises the file; Range requests let the player seek. */
function RecordingVideo(props: { fileUrl: string }): ReactNode {
  const t = useT();
  const [failed, setFailed] = useState(false);
  return (
    <div data-testid="recording-player">
      {failed ? (
        <Alert
          type="error"
          showIcon
          className="section-alert"
          title={t('recordings.playFailed')}
          data-testid="recording-play-error"
        />
      ) : null}
      <video
        className="recording-video"
        src={props.fileUrl}
        controls
        autoPlay
        preload="auto"
        onError={() => setFailed(true)}
        data-testid="recording-video"
      />
    </div>
  );
}
