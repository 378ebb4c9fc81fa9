/** Shown when the workspace has no app yet: call applications need one. */
import { useState } from 'react';
import type { ReactNode } from 'react';
import { App as AntApp, Result } from 'antd';
import { api } from '../api';
import { useT } from '../i18n';
import { navigate } from '../router';
import { paths } from '../routes';
import { useWorkspace } from '../session';
import { CreateButton, IdNameModal } from '../components';

export function NoAppPage(): ReactNode {
  const t = useT();
  const ws = useWorkspace();
  const [open, setOpen] = useState(false);
  return (
    <>
      <Result
        status="info"
        title={t('apps.noneTitle')}
        subTitle={ws.canEdit ? t('apps.noneBody') : `${t('apps.noneBody')} ${t('apps.noneViewer')}`}
        extra={
          ws.canEdit ? (
            <CreateButton onClick={() => setOpen(true)} testId="create-app">
              {t('apps.create')}
            </CreateButton>
          ) : null
        }
      />
      <CreateAppModal open={open} onClose={() => setOpen(false)} />
    </>
  );
}

/** Creating an app in the workspace, then opening its call applications. */
export function CreateAppModal(props: { open: boolean; onClose: () => void }): ReactNode {
  const t = useT();
  const ws = useWorkspace();
  const { message } = AntApp.useApp();
  return (
    <IdNameModal
      open={props.open}
      title={t('apps.createTitle')}
      idField="appId"
      idLabel={t('apps.appId')}
      idHelp={t('apps.appIdHelp')}
      nameLabel={t('apps.name')}
      testIdPrefix="app"
      onClose={props.onClose}
      onSubmit={async (values) => {
        const created = await api.createApp(ws.workspaceId, {
          name: values.name,
          ...(values.id ? { appId: values.id } : {}),
        });
        void message.success(t('apps.created', { name: created.name }));
        await ws.reloadApps();
        navigate(paths.callApps(ws.workspaceId, created.appId));
      }}
    />
  );
}
