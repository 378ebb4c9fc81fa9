/**
 * The signed-in console: header (workspace and app selectors, API link, language, user menu),
 * side menu, and the page of the current route.
 */
import { useCallback, useEffect, useMemo, useState } from 'react';
import type { ReactNode } from 'react';
import {
  Alert,
  App as AntApp,
  Button,
  Divider,
  Dropdown,
  Layout,
  Menu,
  Result,
  Select,
  Space,
  Spin,
  Tag,
  Typography,
} from 'antd';
import {
  ApiOutlined,
  AppstoreOutlined,
  AuditOutlined,
  DisconnectOutlined,
  DownOutlined,
  EllipsisOutlined,
  KeyOutlined,
  LockOutlined,
  LogoutOutlined,
  PhoneOutlined,
  PlusOutlined,
  TeamOutlined,
  TranslationOutlined,
  UserOutlined,
} from '@ant-design/icons';
import type { App, Role } from '@parley/protocol';
import { api, links } from './api';
import { useI18n } from './i18n';
import { errorText } from './errors';
import { Link, matchRoute, navigate, usePath } from './router';
import { paths, patterns } from './routes';
import { permissions, remembered, useSession, useWorkspace, WorkspaceContext } from './session';
import type { WorkspaceValue } from './session';
import { CreateButton, IdNameModal, LoadError } from './components';
import { CallAppsPage } from './pages/CallApps';
import { FeatureConfigPage } from './pages/FeatureConfig';
import { RoomsPage } from './pages/Rooms';
import { CallbacksPage } from './pages/Callbacks';
import { RecordingsPage } from './pages/Recordings';
import { TokensPage } from './pages/Tokens';
import { MembersPage } from './pages/Members';
import { AuditPage } from './pages/Audit';
import { CreateAppModal, NoAppPage } from './pages/NoApp';
import { ChangePasswordModal, SignOutEverywhereModal } from './Account';

type RouteName = keyof typeof patterns;

/** The pages of one call application, by route. */
const callAppPages = {
  config: FeatureConfigPage,
  rooms: RoomsPage,
  callbacks: CallbacksPage,
  recordings: RecordingsPage,
};

function resolve(path: string): { name: RouteName; params: Record<string, string> } | null {
  for (const name of Object.keys(patterns) as RouteName[]) {
    const params = matchRoute(patterns[name], path);
    if (params) return { name, params };
  }
  return null;
}

export function Shell(): ReactNode {
  const path = usePath();
  const { session, refresh } = useSession();
  const { t } = useI18n();
  const route = resolve(path);
  const workspaceId = route?.params['ws'];
  const workspace = session.workspaces.find((w) => w.workspaceId === workspaceId);
  const [refreshedFor, setRefreshedFor] = useState<string | null>(null);

  // `/`: go to the remembered (or first) workspace.
  useEffect(() => {
    if (workspaceId !== undefined || route !== null || path !== '/') return;
    const last = remembered.workspace();
    const target = session.workspaces.find((w) => w.workspaceId === last) ?? session.workspaces[0];
    if (target) navigate(paths.appLanding(target.workspaceId), { replace: true });
  }, [path, route, workspaceId, session.workspaces]);

  // A workspace not in the session may have been created or joined since: re-read the session once.
  useEffect(() => {
    if (workspaceId === undefined || workspace || refreshedFor === workspaceId) return;
    setRefreshedFor(workspaceId);
    void refresh();
  }, [workspaceId, workspace, refreshedFor, refresh]);

  useEffect(() => {
    if (workspace) remembered.setWorkspace(workspace.workspaceId);
  }, [workspace]);

  if (path === '/' && session.workspaces.length === 0) return <Frame>{<NoWorkspace />}</Frame>;
  if (route === null) {
    return (
      <Frame>
        {path === '/' ? (
          <Spin />
        ) : (
          <Result
            status="404"
            title="404"
            subTitle={t('page.notFound')}
            extra={<Link to="/">{t('page.home')}</Link>}
          />
        )}
      </Frame>
    );
  }
  if (!workspace || workspaceId === undefined) {
    return (
      <Frame>
        {refreshedFor !== workspaceId ? (
          <Spin />
        ) : (
          <Result
            status="403"
            subTitle={t('ws.notMember', { ws: workspaceId ?? '' })}
            extra={<Link to="/">{t('page.home')}</Link>}
          />
        )}
      </Frame>
    );
  }
  return (
    <WorkspaceProvider key={workspace.workspaceId} workspaceId={workspace.workspaceId}>
      <Frame route={route}>
        <RoutePage name={route.name} params={route.params} />
      </Frame>
    </WorkspaceProvider>
  );
}

function WorkspaceProvider(props: { workspaceId: string; children: ReactNode }): ReactNode {
  const { session } = useSession();
  const workspace = session.workspaces.find((w) => w.workspaceId === props.workspaceId);
  const [apps, setApps] = useState<App[] | null>(null);
  const [appsError, setAppsError] = useState<unknown>(null);

  const reloadApps = useCallback(async (): Promise<App[] | null> => {
    try {
      const list = await api.listApps(props.workspaceId);
      setApps(list.items);
      setAppsError(null);
      return list.items;
    } catch (error) {
      setAppsError(error);
      return null;
    }
  }, [props.workspaceId]);

  useEffect(() => {
    void reloadApps();
  }, [reloadApps]);

  const value = useMemo<WorkspaceValue | null>(() => {
    if (!workspace) return null;
    return {
      workspaceId: workspace.workspaceId,
      workspace,
      role: workspace.role,
      ...permissions(workspace.role),
      apps,
      appsError,
      reloadApps,
    };
  }, [workspace, apps, appsError, reloadApps]);
  if (!value) return null;
  return <WorkspaceContext.Provider value={value}>{props.children}</WorkspaceContext.Provider>;
}

function RoutePage(props: { name: RouteName; params: Record<string, string> }): ReactNode {
  const { t } = useI18n();
  const ws = useWorkspace();
  const { name, params } = props;
  const appId = params['appId'];

  useEffect(() => {
    if (name === 'workspace') navigate(paths.appLanding(ws.workspaceId), { replace: true });
  }, [name, ws.workspaceId]);

  useEffect(() => {
    if (appId !== undefined && ws.apps?.some((a) => a.appId === appId))
      remembered.setApp(ws.workspaceId, appId);
  }, [appId, ws.apps, ws.workspaceId]);

  const forbidden = (
    <Result
      status="403"
      title="403"
      subTitle={t('page.forbidden')}
      extra={<Link to={paths.appLanding(ws.workspaceId)}>{t('page.home')}</Link>}
    />
  );

  switch (name) {
    case 'workspace':
      return <Spin />;
    case 'appLanding':
      return <AppLanding />;
    case 'tokens':
      return <TokensPage />;
    case 'members':
      return ws.isAdmin ? <MembersPage /> : forbidden;
    case 'audit':
      return ws.isAdmin ? <AuditPage /> : forbidden;
    case 'callApps':
    case 'config':
    case 'rooms':
    case 'callbacks':
    case 'recordings': {
      if (ws.apps === null)
        return ws.appsError ? (
          <LoadError error={ws.appsError} onRetry={() => void ws.reloadApps()} />
        ) : (
          <Spin />
        );
      const app = ws.apps.find((a) => a.appId === appId);
      if (!app) {
        return (
          <Result
            status="404"
            title="404"
            subTitle={t('apps.notFound', { appId: appId ?? '' })}
            extra={<Link to={paths.appLanding(ws.workspaceId)}>{t('page.home')}</Link>}
          />
        );
      }
      if (name === 'callApps') return <CallAppsPage key={app.appId} app={app} />;
      const Page = callAppPages[name];
      const bizName = params['bizName'] ?? '';
      return <Page key={`${app.appId}/${bizName}`} app={app} bizName={bizName} />;
    }
  }
}

/** `/w/:ws/call-apps`: open the remembered (or first) app, or offer creating one. */
function AppLanding(): ReactNode {
  const ws = useWorkspace();
  const apps = ws.apps;
  useEffect(() => {
    if (!apps || apps.length === 0) return;
    const last = remembered.app(ws.workspaceId);
    const target = apps.find((a) => a.appId === last) ?? apps[0];
    if (target) navigate(paths.callApps(ws.workspaceId, target.appId), { replace: true });
  }, [apps, ws.workspaceId]);
  if (apps === null)
    return ws.appsError ? <LoadError error={ws.appsError} onRetry={() => void ws.reloadApps()} /> : <Spin />;
  if (apps.length === 0) return <NoAppPage />;
  return <Spin />;
}

function NoWorkspace(): ReactNode {
  const { t } = useI18n();
  const [open, setOpen] = useState(false);
  return (
    <>
      <Result
        status="info"
        title={t('ws.noneTitle')}
        subTitle={t('ws.noneBody')}
        extra={
          <CreateButton onClick={() => setOpen(true)} testId="create-workspace">
            {t('header.newWorkspace')}
          </CreateButton>
        }
      />
      <CreateWorkspaceModal open={open} onClose={() => setOpen(false)} />
    </>
  );
}

/** Creating a workspace, then opening it. */
function CreateWorkspaceModal(props: { open: boolean; onClose: () => void }): ReactNode {
  const { t } = useI18n();
  const { refresh } = useSession();
  const { message } = AntApp.useApp();
  return (
    <IdNameModal
      open={props.open}
      title={t('ws.createTitle')}
      idField="workspaceId"
      idLabel={t('ws.id')}
      idHelp={t('ws.idHelp')}
      nameLabel={t('ws.name')}
      testIdPrefix="workspace"
      onClose={props.onClose}
      onSubmit={async (values) => {
        const created = await api.createWorkspace({
          name: values.name,
          ...(values.id ? { workspaceId: values.id } : {}),
        });
        await refresh();
        void message.success(t('ws.created', { name: created.name }));
        navigate(paths.appLanding(created.workspaceId));
      }}
    />
  );
}

/** Header + side menu around a page. Without `route` (no workspace yet) only the header shows. */
function Frame(props: {
  route?: { name: RouteName; params: Record<string, string> };
  children: ReactNode;
}): ReactNode {
  const { t } = useI18n();
  const inWorkspace = props.route !== undefined;
  return (
    <Layout className="shell">
      <Layout.Header className="shell-header">
        <Link to="/" className="shell-logo">
          <PhoneOutlined /> {t('app.product')}
        </Link>
        {inWorkspace ? <WorkspaceSelectors route={props.route} /> : null}
        <div className="shell-spacer" />
        <HeaderTools />
      </Layout.Header>
      <Layout>
        {inWorkspace ? (
          <Layout.Sider theme="light" width={208} className="shell-sider" breakpoint="lg" collapsedWidth={64}>
            <SideMenu route={props.route} />
          </Layout.Sider>
        ) : null}
        <Layout.Content className="shell-content">
          {inWorkspace ? <ReadOnlyBanner /> : null}
          {props.children}
        </Layout.Content>
      </Layout>
    </Layout>
  );
}

function ReadOnlyBanner(): ReactNode {
  const { t } = useI18n();
  const ws = useWorkspace();
  if (ws.canEdit) return null;
  return (
    <Alert
      type="info"
      showIcon
      title={t('common.readOnly')}
      style={{ marginBottom: 16 }}
      data-testid="read-only-banner"
    />
  );
}

function currentAppId(
  route: { name: RouteName; params: Record<string, string> } | undefined,
  ws: WorkspaceValue,
): string | undefined {
  const fromRoute = route?.params['appId'];
  if (fromRoute !== undefined) return fromRoute;
  const last = remembered.app(ws.workspaceId);
  return ws.apps?.find((a) => a.appId === last)?.appId ?? ws.apps?.[0]?.appId;
}

function SideMenu(props: {
  route: { name: RouteName; params: Record<string, string> } | undefined;
}): ReactNode {
  const { t } = useI18n();
  const ws = useWorkspace();
  const appId = currentAppId(props.route, ws);
  const callAppsPath =
    appId !== undefined ? paths.callApps(ws.workspaceId, appId) : paths.appLanding(ws.workspaceId);
  const name = props.route?.name;
  const selected = name === 'tokens' || name === 'members' || name === 'audit' ? name : 'callApps';
  const items = [
    {
      key: 'callApps',
      icon: <AppstoreOutlined />,
      label: (
        <Link to={callAppsPath} data-testid="nav-call-apps">
          {t('nav.callApps')}
        </Link>
      ),
    },
    {
      key: 'tokens',
      icon: <KeyOutlined />,
      label: (
        <Link to={paths.tokens(ws.workspaceId)} data-testid="nav-tokens">
          {t('nav.tokens')}
        </Link>
      ),
    },
    ...(ws.isAdmin
      ? [
          {
            key: 'members',
            icon: <TeamOutlined />,
            label: (
              <Link to={paths.members(ws.workspaceId)} data-testid="nav-members">
                {t('nav.members')}
              </Link>
            ),
          },
          {
            key: 'audit',
            icon: <AuditOutlined />,
            label: (
              <Link to={paths.audit(ws.workspaceId)} data-testid="nav-audit">
                {t('nav.audit')}
              </Link>
            ),
          },
        ]
      : []),
  ];
  return (
    <Menu
      mode="inline"
      selectedKeys={[selected]}
      items={items}
      style={{ height: '100%', borderInlineEnd: 0 }}
    />
  );
}

function WorkspaceSelectors(props: {
  route: { name: RouteName; params: Record<string, string> } | undefined;
}): ReactNode {
  const { t } = useI18n();
  const { session } = useSession();
  const ws = useWorkspace();
  const { message, modal } = AntApp.useApp();
  const [modalOpen, setModalOpen] = useState<'workspace' | 'app' | 'renameApp' | null>(null);
  const appId = currentAppId(props.route, ws);
  const app = ws.apps?.find((a) => a.appId === appId);

  const deleteApp = (): void => {
    if (!app) return;
    modal.confirm({
      title: t('apps.deleteTitle', { name: app.name }),
      content: t('apps.deleteBody'),
      okText: t('common.delete'),
      okButtonProps: { danger: true },
      cancelText: t('common.cancel'),
      onOk: async () => {
        try {
          await api.deleteApp(ws.workspaceId, app.appId);
        } catch (error) {
          void message.error(errorText(t, error));
          return;
        }
        void message.success(t('apps.deleted', { name: app.name }));
        await ws.reloadApps();
        navigate(paths.appLanding(ws.workspaceId));
      },
    });
  };

  return (
    <Space size={8} className="shell-selectors" wrap={false}>
      <Select
        className="shell-select"
        value={ws.workspaceId}
        aria-label={t('header.workspace')}
        data-testid="workspace-select"
        popupMatchSelectWidth={false}
        options={session.workspaces.map((w) => ({
          value: w.workspaceId,
          label: (
            <span>
              {w.name} <Typography.Text type="secondary">({w.workspaceId})</Typography.Text>
            </span>
          ),
        }))}
        onChange={(value: string) => navigate(paths.appLanding(value))}
        popupRender={(menu) => (
          <>
            {menu}
            <Divider style={{ margin: '4px 0' }} />
            <Button type="text" block icon={<PlusOutlined />} onClick={() => setModalOpen('workspace')}>
              {t('header.newWorkspace')}
            </Button>
          </>
        )}
      />
      <Typography.Text type="secondary">/</Typography.Text>
      <Select
        className="shell-select"
        value={app ? app.appId : undefined}
        placeholder={ws.apps && ws.apps.length === 0 ? t('header.noApps') : t('header.selectApp')}
        aria-label={t('header.app')}
        data-testid="app-select"
        loading={ws.apps === null}
        popupMatchSelectWidth={false}
        options={(ws.apps ?? []).map((a) => ({
          value: a.appId,
          label: (
            <span>
              {a.name} <Typography.Text type="secondary">({a.appId})</Typography.Text>
            </span>
          ),
        }))}
        onChange={(value: string) => navigate(paths.callApps(ws.workspaceId, value))}
      />
      {ws.canEdit ? (
        <Dropdown
          trigger={['click']}
          menu={{
            items: [
              {
                key: 'new',
                icon: <PlusOutlined />,
                label: t('header.newApp'),
                onClick: () => setModalOpen('app'),
              },
              ...(app
                ? [
                    { key: 'rename', label: t('header.renameApp'), onClick: () => setModalOpen('renameApp') },
                    { key: 'delete', danger: true, label: t('header.deleteApp'), onClick: deleteApp },
                  ]
                : []),
            ],
          }}
        >
          <Button
            type="text"
            icon={<EllipsisOutlined />}
            aria-label={t('header.appMenu')}
            data-testid="app-menu"
          />
        </Dropdown>
      ) : null}
      <CreateWorkspaceModal open={modalOpen === 'workspace'} onClose={() => setModalOpen(null)} />
      <CreateAppModal open={modalOpen === 'app'} onClose={() => setModalOpen(null)} />
      {app ? (
        <IdNameModal
          open={modalOpen === 'renameApp'}
          title={t('apps.renameTitle')}
          nameLabel={t('apps.name')}
          initialName={app.name}
          okText={t('common.save')}
          testIdPrefix="rename-app"
          onClose={() => setModalOpen(null)}
          onSubmit={async (values) => {
            await api.renameApp(ws.workspaceId, app.appId, values.name);
            void message.success(t('apps.renamed'));
            await ws.reloadApps();
          }}
        />
      ) : null}
    </Space>
  );
}

function HeaderTools(): ReactNode {
  const { t, lang, setLang } = useI18n();
  const { session, logout } = useSession();
  const role = useRoleIfAny();
  const [accountModal, setAccountModal] = useState<'password' | 'everywhere' | null>(null);
  return (
    <Space size={4} className="shell-tools">
      <Button
        type="text"
        icon={<ApiOutlined />}
        href={links.apiDocs}
        target="_blank"
        rel="noopener"
        title={t('header.apiTitle')}
        data-testid="api-docs-link"
      >
        {t('header.api')}
      </Button>
      <Button
        type="text"
        icon={<TranslationOutlined />}
        onClick={() => setLang(lang === 'zh' ? 'en' : 'zh')}
        title={t('lang.switchTitle')}
        data-testid="lang-switch"
      >
        {t('lang.switchTo')}
      </Button>
      <Dropdown
        trigger={['click']}
        menu={{
          items: [
            {
              key: 'who',
              disabled: true,
              label: (
                <div>
                  <div>{session.user.name || session.user.email}</div>
                  <Typography.Text type="secondary">{session.user.email}</Typography.Text>
                  {role ? (
                    <div>
                      <Tag style={{ marginTop: 4 }}>{t(`role.${role}`)}</Tag>
                    </div>
                  ) : null}
                </div>
              ),
            },
            { type: 'divider' },
            {
              key: 'password',
              icon: <LockOutlined />,
              label: <span data-testid="change-password">{t('account.changePassword')}</span>,
              onClick: () => setAccountModal('password'),
            },
            {
              key: 'everywhere',
              icon: <DisconnectOutlined />,
              label: <span data-testid="sign-out-everywhere">{t('account.signOutEverywhere')}</span>,
              onClick: () => setAccountModal('everywhere'),
            },
            {
              key: 'logout',
              icon: <LogoutOutlined />,
              label: <span data-testid="logout">{t('header.logout')}</span>,
              onClick: () => void logout(),
            },
          ],
        }}
      >
        <Button type="text" icon={<UserOutlined />} data-testid="user-menu">
          <span className="shell-user">{session.user.name || session.user.email}</span> <DownOutlined />
        </Button>
      </Dropdown>
      <ChangePasswordModal open={accountModal === 'password'} onClose={() => setAccountModal(null)} />
      <SignOutEverywhereModal open={accountModal === 'everywhere'} onClose={() => setAccountModal(null)} />
    </Space>
  );
}

/** The role in the current workspace, when the header is rendered inside one. */
function useRoleIfAny(): Role | null {
  const path = usePath();
  const { session } = useSession();
  const workspaceId = /^\/w\/([^/]+)/.exec(path)?.[1];
  if (workspaceId === undefined) return null;
  let decoded: string;
  try {
    decoded = decodeURIComponent(workspaceId);
  } catch {
    return null;
  }
  return session.workspaces.find((w) => w.workspaceId === decoded)?.role ?? null;
}
