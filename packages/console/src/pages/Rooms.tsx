/**
 * 实时房间: the live rooms of a call application and the people in them, re-read every 3 s
 * while the tab is visible. Developers and up can create and close rooms, start and stop
 * recording a room, remove participants, and try a call from the browser with a credential the
 * server signs for them. Whether a room is being recorded comes from the recordings list
 * (status recording / finishing), read along with the rooms.
 */
import { useCallback, useEffect, useState } from 'react';
import type { ReactNode } from 'react';
import { Alert, App as AntApp, Button, Space, Table, Tag, Tooltip, Typography } from 'antd';
import type { TableColumnsType } from 'antd';
import {
  AudioMutedOutlined,
  AudioOutlined,
  LoginOutlined,
  PhoneOutlined,
  PlusOutlined,
  PauseCircleOutlined,
  PoweroffOutlined,
  ReloadOutlined,
  SyncOutlined,
  TeamOutlined,
  UserDeleteOutlined,
  VideoCameraAddOutlined,
  VideoCameraOutlined,
} from '@ant-design/icons';
import type { App, CallApp, Credential, LiveRoom, Recording } from '@parley/protocol';
import { api, isApiError, links } from '../api';
import type { Items } from '../api';
import { useT } from '../i18n';
import type { MessageKey } from '../i18n';
import { errorText } from '../errors';
import { useWorkspace } from '../session';
import { base64url, formatElapsed, formatTime, tid, useNow } from '../util';
import { actionsColumn, ConfirmAction, CopyableText, LoadError } from '../components';
import { CallAppPage, CallAppPageStatus, useLiveList } from './CallAppPage';

type LiveParticipant = LiveRoom['participants'][number];
type Track = LiveParticipant['tracks'][number];

/** How often the list is re-read while the tab is visible. */
const refreshMs = 3000;

interface RoomsAnswer extends Items<LiveRoom> {
  /**
   * The recording in progress (recording or finishing) of each room being recorded; null when
   * the recordings could not be read (then both start and stop are offered).
   */
  recorded: Record<string, Recording> | null;
}

/** The active recordings of a call application, by room. */
async function activeRecordings(
  workspaceId: string,
  appId: string,
  bizName: string,
): Promise<Record<string, Recording>> {
  const [recording, finishing] = await Promise.all(
    (['recording', 'finishing'] as const).map((status) =>
      api.listRecordings(workspaceId, appId, bizName, { status, page: 1, pageSize: 200 }),
    ),
  );
  const byRoom: Record<string, Recording> = {};
  // Newest first; a room's running recording wins over one still finishing.
  for (const r of [...(finishing?.items ?? []), ...(recording?.items ?? [])].reverse()) byRoom[r.roomId] = r;
  return byRoom;
}

/**
 * The call page for a credential. It travels in the fragment, which browsers send neither to the
 * server nor in a Referer header.
 */
function callPageUrl(credential: Credential, roomId?: string): string {
  const query = roomId === undefined ? '' : `?room=${encodeURIComponent(roomId)}`;
  const url = `${links.callPage}${query}#credential=${base64url(JSON.stringify(credential))}`;
  return new URL(url, window.location.href).href;
}

export function RoomsPage(props: { app: App; bizName: string }): ReactNode {
  const t = useT();
  const ws = useWorkspace();
  const { message } = AntApp.useApp();
  const { app, bizName } = props;
  const now = useNow(1000);
  const [callApp, setCallApp] = useState<CallApp | null>(null);
  const [pageError, setPageError] = useState<unknown>(null);
  const [creating, setCreating] = useState(false);
  const [opening, setOpening] = useState<'try' | 'join' | null>(null);
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [starting, setStarting] = useState<string | null>(null);
  const {
    answer: rooms,
    error: roomsError,
    refresh,
    refreshNow,
    refreshing,
    update: updateRooms,
  } = useLiveList(
    useCallback(async (): Promise<RoomsAnswer> => {
      const [rooms, recorded] = await Promise.all([
        api.listRooms(ws.workspaceId, app.appId, bizName),
        activeRecordings(ws.workspaceId, app.appId, bizName).catch(() => null),
      ]);
      return { ...rooms, recorded };
    }, [ws.workspaceId, app.appId, bizName]),
    { intervalMs: refreshMs, paused: Boolean(pageError), onNotFound: setPageError },
  );

  const load = useCallback(async (): Promise<void> => {
    setPageError(null);
    const [loaded] = await Promise.all([
      api.getCallApp(ws.workspaceId, app.appId, bizName).catch((error: unknown) => {
        setPageError(error);
        return null;
      }),
      refresh(),
    ]);
    if (loaded) setCallApp(loaded);
  }, [ws.workspaceId, app.appId, bizName, refresh]);

  useEffect(() => {
    void load();
  }, [load]);

  /**
   * A failed room action: say why; a room or participant that is gone, or a recording state other
   * than shown, means the list is stale.
   */
  const actionFailed = (error: unknown): void => {
    void message.error(errorText(t, error));
    if (
      isApiError(error, 'ROOM_NOT_FOUND') ||
      isApiError(error, 'PARTICIPANT_NOT_FOUND') ||
      isApiError(error, 'RECORDING_ACTIVE') ||
      isApiError(error, 'RECORDING_NOT_ACTIVE')
    )
      void refresh();
  };

  /** Shows a room's recording state as the server answered it, until the next read. */
  const setRecorded = (roomId: string, recording: Recording): void =>
    updateRooms((r) => (r.recorded ? { ...r, recorded: { ...r.recorded, [roomId]: recording } } : r));

  const startRecording = async (room: LiveRoom): Promise<void> => {
    setStarting(room.roomId);
    try {
      const recording = await api.startRecording(ws.workspaceId, app.appId, bizName, room.roomId);
      void message.success(t('rooms.recordingStarted', { roomId: room.roomId }));
      setRecorded(room.roomId, recording);
    } catch (error) {
      actionFailed(error);
      return;
    } finally {
      setStarting(null);
    }
    void refresh();
  };

  const stopRecording = async (room: LiveRoom): Promise<void> => {
    try {
      const recording = await api.stopRecording(ws.workspaceId, app.appId, bizName, room.roomId);
      void message.success(t('rooms.recordingStopped', { roomId: room.roomId }));
      setRecorded(room.roomId, recording);
    } catch (error) {
      actionFailed(error);
      return;
    }
    void refresh();
  };

  const create = async (): Promise<void> => {
    setCreating(true);
    try {
      const room = await api.createRoom(ws.workspaceId, app.appId, bizName);
      void message.success(t('rooms.created', { roomId: room.roomId }));
      setSelectedId(room.roomId);
      await refresh();
    } catch (error) {
      void message.error(errorText(t, error));
    } finally {
      setCreating(false);
    }
  };

  const closeRoom = async (room: LiveRoom): Promise<void> => {
    try {
      await api.closeRoom(ws.workspaceId, app.appId, bizName, room.roomId);
    } catch (error) {
      actionFailed(error);
      return;
    }
    void message.success(t('rooms.closed', { roomId: room.roomId }));
    updateRooms((r) => ({ ...r, items: r.items.filter((x) => x.roomId !== room.roomId) }));
    void refresh();
  };

  const removeParticipant = async (room: LiveRoom, participant: LiveParticipant): Promise<void> => {
    try {
      await api.removeParticipant(ws.workspaceId, app.appId, bizName, room.roomId, participant.participantId);
    } catch (error) {
      actionFailed(error);
      return;
    }
    void message.success(t('rooms.removed', { uid: participant.uid, roomId: room.roomId }));
    updateRooms((r) => ({
      ...r,
      items: r.items.map((x) =>
        x.roomId === room.roomId
          ? {
              ...x,
              participants: x.participants.filter((p) => p.participantId !== participant.participantId),
            }
          : x,
      ),
    }));
    void refresh();
  };

  const openCall = async (kind: 'try' | 'join', roomId?: string): Promise<void> => {
    // Opened before the request, while the click still counts as a user gesture: most browsers
    // block a window.open that only follows an await.
    const tab = window.open('', '_blank');
    setOpening(kind);
    try {
      const url = callPageUrl(await api.tryCredential(ws.workspaceId, app.appId, bizName), roomId);
      if (tab) {
        tab.opener = null;
        tab.location.href = url;
      } else if (!window.open(url, '_blank', 'noopener')) {
        void message.error(t('rooms.popupBlocked'));
      }
    } catch (error) {
      tab?.close();
      void message.error(errorText(t, error));
    } finally {
      setOpening(null);
    }
  };

  if (pageError || !callApp) {
    return (
      <CallAppPageStatus
        app={app}
        bizName={bizName}
        section="rooms"
        callApp={callApp}
        error={pageError}
        onRetry={() => void load()}
      />
    );
  }

  // Durations tick on from the time of the answer, whatever the server's clock.
  const sinceFetch = rooms ? Math.max(0, now - rooms.receivedAt) : 0;
  const selected = rooms?.items.find((r) => r.roomId === selectedId) ?? null;
  /** The room's active recording, null when there is none, undefined when unknown. */
  const recordingOf = (room: LiveRoom): Recording | null | undefined =>
    rooms?.recorded ? (rooms.recorded[room.roomId] ?? null) : undefined;

  const credentialHelp = (text: MessageKey, vars?: Record<string, string>): ReactNode => (
    <div>
      {t(text, vars)} {t('rooms.credentialNote')}{' '}
      <a href={links.signingDocs} target="_blank" rel="noopener" className="tooltip-link">
        {t('rooms.signingDocs')}
      </a>
    </div>
  );

  const columns: TableColumnsType<LiveRoom> = [
    {
      key: 'roomId',
      title: t('rooms.col.roomId'),
      render: (_, room) => <CopyableText text={room.roomId} />,
    },
    {
      key: 'createdAt',
      title: t('rooms.col.createdAt'),
      render: (_, room) => <span className="nowrap">{formatTime(room.createdAt)}</span>,
    },
    {
      key: 'duration',
      title: t('rooms.col.duration'),
      render: (_, room) => <span className="mono nowrap">{formatElapsed(room.durationMs + sinceFetch)}</span>,
    },
    {
      key: 'participants',
      title: t('rooms.col.participants'),
      render: (_, room) => (
        <Space size={6}>
          <TeamOutlined />
          {room.participants.length}
        </Space>
      ),
    },
    {
      key: 'recording',
      title: t('rooms.col.recording'),
      render: (_, room) => <RoomRecordingState recording={recordingOf(room)} roomId={room.roomId} />,
    },
    ...actionsColumn(t, ws.canEdit, (room: LiveRoom) => {
      const recording = recordingOf(room);
      // Unknown (the recordings could not be read): offer both, the server says which applies.
      const canStart = recording === undefined || recording === null;
      const canStop = recording === undefined || recording?.status === 'recording';
      return (
        <Space size={[12, 4]} wrap className="row-actions">
          {canStart ? (
            <Button
              type="link"
              size="small"
              className="inline-link"
              icon={<VideoCameraAddOutlined />}
              loading={starting === room.roomId}
              onClick={() => void startRecording(room)}
              data-testid={`room-record-start-${room.roomId}`}
            >
              {t('rooms.startRecording')}
            </Button>
          ) : null}
          {canStop ? (
            <ConfirmAction
              danger={false}
              title={t('rooms.stopRecordingTitle', { roomId: room.roomId })}
              body={t('rooms.stopRecordingBody')}
              okText={t('rooms.stopRecording')}
              confirmTestId="confirm-record-stop"
              label={t('rooms.stopRecording')}
              icon={<PauseCircleOutlined />}
              testId={`room-record-stop-${room.roomId}`}
              onConfirm={() => stopRecording(room)}
            />
          ) : null}
          <ConfirmAction
            title={t('rooms.closeTitle', { roomId: room.roomId })}
            body={t('rooms.closeBody')}
            okText={t('rooms.close')}
            confirmTestId="confirm-room-close"
            label={t('rooms.close')}
            icon={<PoweroffOutlined />}
            testId={`room-close-${room.roomId}`}
            onConfirm={() => closeRoom(room)}
          />
        </Space>
      );
    }),
  ];

  return (
    <CallAppPage
      app={app}
      bizName={bizName}
      section="rooms"
      callApp={callApp}
      intro={t('rooms.intro')}
      links={['recordings']}
      extra={
        ws.canEdit ? (
          <>
            {selected ? (
              <Tooltip title={credentialHelp('rooms.joinHelp', { roomId: selected.roomId })}>
                <Button
                  icon={<LoginOutlined />}
                  loading={opening === 'join'}
                  onClick={() => void openCall('join', selected.roomId)}
                  data-testid={`join-room-${selected.roomId}`}
                >
                  {t('rooms.join')}
                </Button>
              </Tooltip>
            ) : null}
            <Tooltip title={credentialHelp('rooms.tryHelp')}>
              <Button
                icon={<PhoneOutlined />}
                loading={opening === 'try'}
                onClick={() => void openCall('try')}
                data-testid="try-call"
              >
                {t('rooms.tryCall')}
              </Button>
            </Tooltip>
            <Tooltip title={t('rooms.createHelp')}>
              <Button
                type="primary"
                icon={<PlusOutlined />}
                loading={creating}
                onClick={() => void create()}
                data-testid="create-room"
              >
                {t('rooms.create')}
              </Button>
            </Tooltip>
          </>
        ) : null
      }
    >
      <div className="toolbar">
        <Button
          icon={<ReloadOutlined />}
          loading={refreshing}
          onClick={() => void refreshNow()}
          data-testid="rooms-refresh"
        >
          {t('rooms.refresh')}
        </Button>
        {rooms ? (
          <Typography.Text type="secondary" className="small toolbar-note">
            {t('rooms.autoRefresh', { time: formatTime(rooms.receivedAt) })}
          </Typography.Text>
        ) : null}
        {ws.canEdit && !selected && rooms && rooms.items.length > 0 ? (
          <Typography.Text type="secondary" className="small toolbar-note">
            {t('rooms.selectToJoin')}
          </Typography.Text>
        ) : null}
      </div>
      {roomsError && rooms ? (
        <Alert
          type="warning"
          showIcon
          className="section-alert"
          title={t('rooms.refreshFailed', { error: errorText(t, roomsError) })}
        />
      ) : null}
      {roomsError && !rooms ? (
        <LoadError error={roomsError} onRetry={() => void refreshNow()} />
      ) : (
        <Table<LiveRoom>
          rowKey="roomId"
          columns={columns}
          dataSource={rooms?.items ?? []}
          loading={rooms === null}
          pagination={false}
          scroll={{ x: 'max-content' }}
          onRow={(room) => tid(`room-row-${room.roomId}`)}
          locale={{ emptyText: t('rooms.empty', { bizName: callApp.bizName }) }}
          rowSelection={
            ws.canEdit
              ? {
                  type: 'radio',
                  selectedRowKeys: selected ? [selected.roomId] : [],
                  onChange: (keys) => setSelectedId(keys[0] === undefined ? null : String(keys[0])),
                }
              : undefined
          }
          expandable={{
            expandedRowRender: (room) => (
              <Participants
                room={room}
                sinceFetch={sinceFetch}
                canEdit={ws.canEdit}
                onRemove={(participant) => removeParticipant(room, participant)}
              />
            ),
          }}
        />
      )}
    </CallAppPage>
  );
}

/** "Recording" / "Saving the file" for a room being recorded; nothing otherwise. */
function RoomRecordingState(props: { recording: Recording | null | undefined; roomId: string }): ReactNode {
  const t = useT();
  const { recording } = props;
  if (recording === undefined)
    return <Typography.Text type="secondary">{t('rooms.recordingUnknown')}</Typography.Text>;
  if (recording === null) return <Typography.Text type="secondary">—</Typography.Text>;
  const active = recording.status === 'recording';
  return (
    <Tag
      color={active ? 'red' : 'processing'}
      icon={active ? <VideoCameraOutlined /> : <SyncOutlined spin />}
      data-testid={`room-recording-${props.roomId}`}
      data-status={recording.status}
    >
      {active ? t('rooms.recording') : t('rooms.recordingFinishing')}
    </Tag>
  );
}

function Participants(props: {
  room: LiveRoom;
  sinceFetch: number;
  canEdit: boolean;
  onRemove: (participant: LiveParticipant) => Promise<void>;
}): ReactNode {
  const t = useT();
  const columns: TableColumnsType<LiveParticipant> = [
    {
      key: 'uid',
      title: t('rooms.participant.uid'),
      render: (_, p) => <CopyableText text={p.uid} />,
    },
    {
      key: 'joinedAt',
      title: t('rooms.participant.joinedAt'),
      render: (_, p) => <span className="nowrap">{formatTime(p.joinedAt)}</span>,
    },
    {
      key: 'duration',
      title: t('rooms.participant.duration'),
      render: (_, p) => <span className="mono nowrap">{formatElapsed(p.durationMs + props.sinceFetch)}</span>,
    },
    {
      key: 'media',
      title: t('rooms.participant.media'),
      render: (_, p) => <Tracks tracks={p.tracks} />,
    },
    ...actionsColumn(t, props.canEdit, (p: LiveParticipant) => (
      <ConfirmAction
        title={t('rooms.removeTitle', { uid: p.uid })}
        body={t('rooms.removeBody')}
        okText={t('rooms.remove')}
        confirmTestId="confirm-participant-remove"
        label={t('rooms.remove')}
        icon={<UserDeleteOutlined />}
        testId={`participant-remove-${p.participantId}`}
        onConfirm={() => props.onRemove(p)}
      />
    )),
  ];
  return (
    <Table<LiveParticipant>
      rowKey="participantId"
      size="small"
      className="participants"
      columns={columns}
      dataSource={props.room.participants}
      pagination={false}
      onRow={(p) => tid(`participant-row-${p.participantId}`)}
      locale={{ emptyText: t('rooms.participant.empty') }}
    />
  );
}

const trackLabels: Record<'audio' | 'video', { on: MessageKey; muted: MessageKey }> = {
  audio: { on: 'rooms.track.audio', muted: 'rooms.track.audioMuted' },
  video: { on: 'rooms.track.video', muted: 'rooms.track.videoMuted' },
};

/** One icon per published track: green while sending, grey (and crossed out) while muted. */
function Tracks(props: { tracks: Track[] }): ReactNode {
  const t = useT();
  if (props.tracks.length === 0) {
    return <Typography.Text type="secondary">{t('rooms.track.none')}</Typography.Text>;
  }
  return (
    <Space size={4}>
      {props.tracks.map((track, i) => {
        const labels = track.kind === 'audio' || track.kind === 'video' ? trackLabels[track.kind] : null;
        const label = labels ? t(track.muted ? labels.muted : labels.on) : track.kind;
        const icon =
          track.kind === 'audio' ? (
            track.muted ? (
              <AudioMutedOutlined />
            ) : (
              <AudioOutlined />
            )
          ) : track.kind === 'video' ? (
            <VideoCameraOutlined />
          ) : (
            track.kind
          );
        return (
          <Tooltip key={`${track.kind}-${i}`} title={label}>
            <Tag
              color={track.muted ? undefined : 'success'}
              className={track.muted ? 'track track-muted' : 'track'}
              role="img"
              aria-label={label}
              data-kind={track.kind}
              data-muted={track.muted}
            >
              {icon}
            </Tag>
          </Tooltip>
        );
      })}
    </Space>
  );
}
