/** Shown when the workspace has no app yet: call applications need one. */
import { useState } from 'react';
import type { ReactNode } from 'react';
import { App as AntApp, Button, Result } from 'antd';
import { PlusOutlined } from '@ant-design/icons';
import { api } from '../api';
import { useT } from '../i18n';
import { navigate } from '../router';
import { paths } from '../routes';
import { useWorkspace } from '../session';
import { IdNameModal } from '../components';

export function NoAppPage(): ReactNode {
  const t = useT();
  const ws = useWorkspace();
  const { message } = AntApp.useApp();
  const [open, setOpen] = useState(false);
  return (
    <>
      <Result
        status="info"
        title={t('apps.noneTitle')}
        subTitle={ws.canEdit ? t('apps.noneBody') : `${t('apps.noneBody')} ${t('apps.noneViewer')}`}
        extra={
          ws.canEdit ? (
            <Button
              type="primary"
              icon={<PlusOutlined />}
              onClick={() => setOpen(true)}
              data-testid="create-app"
            >
              {t('apps.create')}
            </Button>
          ) : null
        }
      />
      <IdNameModal
        open={open}
        title={t('apps.createTitle')}
        idField="appId"
        idLabel={t('apps.appId')}
        idHelp={t('apps.appIdHelp')}
        nameLabel={t('apps.name')}
        testIdPrefix="app"
        onClose={() => setOpen(false)}
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
    </>
  );
}
