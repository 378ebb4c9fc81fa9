/**
 * What the pages of one call application (feature configuration, live rooms, callbacks, recordings) share:
 * the breadcrumb, the 404 / load error / spinner until the call application is loaded, the header
 * (page title with the name and bizName, buttons to the sibling pages), and a list re-read while
 * the tab is visible.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { ReactNode } from 'react';
import { Breadcrumb, Button, Result, Space, Spin, Tag, Typography } from 'antd';
import { HistoryOutlined, PlaySquareOutlined, SettingOutlined, TeamOutlined } from '@ant-design/icons';
import type { App, CallApp } from '@parley/protocol';
import { useT } from '../i18n';
import type { MessageKey } from '../i18n';
import { errorText, isNotFound } from '../errors';
import { followLink, Link } from '../router';
import { paths } from '../routes';
import { useWorkspace } from '../session';
import { LoadError, PageHeader } from '../components';

export type CallAppSection = 'config' | 'rooms' | 'callbacks' | 'recordings';

/** Each page of a call application: its title, and how links to it look (list rows, header buttons). */
export const callAppSections: Record<
  CallAppSection,
  { title: MessageKey; label: MessageKey; icon: ReactNode }
> = {
  config: { title: 'config.title', label: 'callApps.featureConfig', icon: <SettingOutlined /> },
  rooms: { title: 'rooms.title', label: 'callApps.liveRooms', icon: <TeamOutlined /> },
  callbacks: { title: 'callbacks.title', label: 'callApps.callbacks', icon: <HistoryOutlined /> },
  recordings: { title: 'recordings.title', label: 'callApps.recordings', icon: <PlaySquareOutlined /> },
};

interface CallAppPageProps {
  app: App;
  bizName: string;
  /** The page shown. */
  section: CallAppSection;
  callApp: CallApp | null;
}

function CallAppBreadcrumb(props: CallAppPageProps): ReactNode {
  const t = useT();
  const ws = useWorkspace();
  return (
    <Breadcrumb
      className="page-breadcrumb"
      items={[
        {
          key: 'list',
          title: <Link to={paths.callApps(ws.workspaceId, props.app.appId)}>{t('callApps.title')}</Link>,
        },
        { key: 'app', title: props.callApp?.name ?? props.bizName },
        { key: props.section, title: t(callAppSections[props.section].title) },
      ]}
    />
  );
}

/** The page before it can show: a 404 for a call application (or app) that is gone, a load error with a retry, or a spinner. */
export function CallAppPageStatus(
  props: CallAppPageProps & { error: unknown; onRetry: () => void },
): ReactNode {
  const t = useT();
  const ws = useWorkspace();
  const { error } = props;
  return (
    <div>
      <CallAppBreadcrumb {...props} />
      {!error ? (
        <Spin />
      ) : isNotFound(error) ? (
        <Result
          status="404"
          title="404"
          subTitle={errorText(t, error)}
          extra={<Link to={paths.callApps(ws.workspaceId, props.app.appId)}>{t('page.home')}</Link>}
        />
      ) : (
        <LoadError error={error} onRetry={props.onRetry} />
      )}
    </div>
  );
}

/** The loaded page: breadcrumb, header (buttons to the `links` pages first, then `extra`), content. */
export function CallAppPage(
  props: CallAppPageProps & {
    callApp: CallApp;
    intro: ReactNode;
    links?: CallAppSection[];
    extra?: ReactNode;
    children: ReactNode;
  },
): ReactNode {
  const t = useT();
  const ws = useWorkspace();
  const { callApp, section } = props;
  const links = props.links ?? [];
  const linkButton = (target: CallAppSection): ReactNode => {
    const path = paths[target](ws.workspaceId, props.app.appId, props.bizName);
    return (
      <Button
        key={target}
        icon={callAppSections[target].icon}
        href={path}
        onClick={(event) => followLink(event, path)}
        data-testid={`${section}-${target}`}
      >
        {t(callAppSections[target].label)}
      </Button>
    );
  };
  return (
    <div>
      <CallAppBreadcrumb {...props} />
      <PageHeader
        title={
          <Space size={12} wrap>
            {t(callAppSections[section].title)}
            <Tag className="mono title-tag">{callApp.name}</Tag>
            <Typography.Text type="secondary" className="mono title-biz" copyable={{ text: callApp.bizName }}>
              bizName: {callApp.bizName}
            </Typography.Text>
          </Space>
        }
        intro={props.intro}
        extra={
          links.length > 0 || props.extra ? (
            <>
              {links.map(linkButton)}
              {props.extra}
            </>
          ) : null
        }
      />
      {props.children}
    </div>
  );
}

/** An answer with the `Date.now()` it arrived at. */
export type Received<T> = T & { receivedAt: number };

/**
 * A list of a call application (live rooms, callback log) read by `refresh` and again every
 * `intervalMs` while the tab is visible and not `paused` (at once when the tab shows again). The
 * answer of an older read is dropped once a newer one has started. A failed read keeps the last
 * answer and sets `error`, except a read finding the call application gone: that goes to
 * `onNotFound` (a stable function, e.g. a state setter).
 */
export function useLiveList<T extends object>(
  read: () => Promise<T>,
  options: { intervalMs: number; paused: boolean; onNotFound: (error: unknown) => void },
): {
  answer: Received<T> | null;
  error: unknown;
  refresh: () => Promise<void>;
  /** `refresh`, with `refreshing` true while it runs (the refresh button). */
  refreshNow: () => Promise<void>;
  refreshing: boolean;
  /** Changes the answer in place (after an action, until the next read). */
  update: (change: (answer: Received<T>) => Received<T>) => void;
} {
  const { intervalMs, paused, onNotFound } = options;
  const [answer, setAnswer] = useState<Received<T> | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [refreshing, setRefreshing] = useState(false);
  /** Number of the newest read: the answer of an older one is dropped. */
  const latest = useRef(0);
  const inFlight = useRef(0);

  const refresh = useCallback(async (): Promise<void> => {
    const id = ++latest.current;
    inFlight.current += 1;
    try {
      const value = await read();
      if (id !== latest.current) return;
      setAnswer({ ...value, receivedAt: Date.now() });
      setError(null);
    } catch (failure) {
      if (id !== latest.current) return;
      if (isNotFound(failure)) onNotFound(failure);
      else setError(failure);
    } finally {
      inFlight.current -= 1;
    }
  }, [read, onNotFound]);

  // Auto-refresh, paused while the tab is hidden; catching up at once when it shows again.
  useEffect(() => {
    if (paused) return;
    const tick = (): void => {
      if (document.visibilityState === 'visible' && inFlight.current === 0) void refresh();
    };
    const timer = setInterval(tick, intervalMs);
    const onVisibility = (): void => {
      if (document.visibilityState === 'visible') tick();
    };
    document.addEventListener('visibilitychange', onVisibility);
    return () => {
      clearInterval(timer);
      document.removeEventListener('visibilitychange', onVisibility);
    };
  }, [refresh, paused, intervalMs]);

  const refreshNow = async (): Promise<void> => {
    setRefreshing(true);
    try {
      await refresh();
    } finally {
      setRefreshing(false);
    }
  };

  const update = useCallback(
    (change: (answer: Received<T>) => Received<T>) => setAnswer((a) => (a ? change(a) : a)),
    [],
  );

  return { answer, error, refresh, refreshNow, refreshing, update };
}
