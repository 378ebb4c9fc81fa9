/** 功能配置: a call application's feature configuration, read-only until 编辑 Edit. */
import { useCallback, useEffect, useState } from 'react';
import type { ReactNode } from 'react';
import {
  Alert,
  App as AntApp,
  Button,
  Card,
  Divider,
  Form,
  Input,
  InputNumber,
  Select,
  Switch,
  Typography,
} from 'antd';
import { EditOutlined, InfoCircleOutlined, SaveOutlined } from '@ant-design/icons';
import { limits, recordingDefaults, validateFeatureConfig } from '@parley/protocol';
import type { App, CallApp, FeatureConfig, FeatureConfigResponse } from '@parley/protocol';
import { api, isApiError } from '../api';
import { useT } from '../i18n';
import { errorText, fieldIssueFromError, fieldIssueText } from '../errors';
import { useWorkspace } from '../session';
import { formatTime } from '../util';
import { KeysCard } from './Keys';
import { CallbackSigningCard, TestCallback, useTestCallback } from './CallbackSigning';
import type { CallbackKind } from './CallbackSigning';
import { CallAppPage, CallAppPageStatus } from './CallAppPage';
import { mediaTypes } from './Recordings';
import { ProxySecretPanel, ProxyTestAlert, ProxyTestButton, useProxyTest } from './MediaProxy';

const fieldNames = [
  'autoRecord',
  'recordMediaType',
  'recordMaxMixedStreams',
  'recordingCallbackUrl',
  'roomCallbackUrl',
  'proxyAddress',
  'proxyEgressIps',
] as const satisfies readonly (keyof FeatureConfig)[];

type FieldName = (typeof fieldNames)[number];

/** One message slot for save outcomes, so a success replaces an earlier error. */
const saveMessageKey = 'config-save';

function isFieldName(value: string): value is FieldName {
  return (fieldNames as readonly string[]).includes(value);
}

export function FeatureConfigPage(props: { app: App; bizName: string }): ReactNode {
  const t = useT();
  const ws = useWorkspace();
  const { message } = AntApp.useApp();
  const { app, bizName } = props;
  const [form] = Form.useForm<FeatureConfig>();
  const [callApp, setCallApp] = useState<CallApp | null>(null);
  const [saved, setSaved] = useState<FeatureConfigResponse | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [editing, setEditing] = useState(false);
  const [saving, setSaving] = useState(false);
  const [conflict, setConflict] = useState(false);
  const [reloading, setReloading] = useState(false);
  const test = useTestCallback(app, bizName);
  const proxyTest = useProxyTest(app, bizName);
  const mediaType = Form.useWatch('recordMediaType', form);
  const proxyAddress = Form.useWatch('proxyAddress', form) ?? '';

  const clearErrors = useCallback(() => {
    form.setFields(fieldNames.map((name) => ({ name, errors: [] })));
  }, [form]);

  const show = useCallback(
    (response: FeatureConfigResponse) => {
      setSaved(response);
      // The recording options are always in the answer of a current server; defaults otherwise.
      form.setFieldsValue({
        recordMediaType: recordingDefaults.mediaType,
        recordMaxMixedStreams: recordingDefaults.maxMixedStreams,
        ...response.config,
      });
      clearErrors();
    },
    [form, clearErrors],
  );

  const load = useCallback(async () => {
    setLoadError(null);
    try {
      const [loadedCallApp, config] = await Promise.all([
        api.getCallApp(ws.workspaceId, app.appId, bizName),
        api.getConfig(ws.workspaceId, app.appId, bizName),
      ]);
      setCallApp(loadedCallApp);
      show(config);
    } catch (error) {
      setLoadError(error);
    }
  }, [ws.workspaceId, app.appId, bizName, show]);

  useEffect(() => {
    void load();
  }, [load]);

  const edit = (): void => {
    setConflict(false);
    setEditing(true);
  };

  const cancel = (): void => {
    if (saved) show(saved);
    // A test of an address that is now discarded would only confuse.
    proxyTest.clear();
    setConflict(false);
    setEditing(false);
  };

  const save = async (): Promise<void> => {
    if (!saved) return;
    const input = form.getFieldsValue([...fieldNames]) as FeatureConfig;
    const { issues, value } = validateFeatureConfig({
      autoRecord: Boolean(input.autoRecord),
      recordMediaType: input.recordMediaType ?? recordingDefaults.mediaType,
      // An emptied number field is null: not a whole number, so OUT_OF_RANGE.
      recordMaxMixedStreams:
        typeof input.recordMaxMixedStreams === 'number' ? input.recordMaxMixedStreams : Number.NaN,
      recordingCallbackUrl: input.recordingCallbackUrl ?? '',
      roomCallbackUrl: input.roomCallbackUrl ?? '',
      proxyAddress: input.proxyAddress ?? '',
      proxyEgressIps: input.proxyEgressIps ?? '',
    });
    clearErrors();
    if (issues.length > 0) {
      form.setFields(
        issues.flatMap((i): { name: FieldName; errors: string[] }[] =>
          isFieldName(i.field) ? [{ name: i.field, errors: [fieldIssueText(t, i)] }] : [],
        ),
      );
      void message.open({ key: saveMessageKey, type: 'error', content: t('config.fixErrors') });
      return;
    }
    setSaving(true);
    try {
      const response = await api.saveConfig(ws.workspaceId, app.appId, bizName, value, saved.version);
      show(response);
      setEditing(false);
      setConflict(false);
      setCallApp((c) => (c ? { ...c, autoRecord: response.config.autoRecord } : c));
      test.clear();
      void message.open({ key: saveMessageKey, type: 'success', content: t('config.saved') });
    } catch (error) {
      const issue = fieldIssueFromError(error);
      if (isApiError(error, 'VERSION_CONFLICT')) {
        setConflict(true);
      } else if (issue && isFieldName(issue.field)) {
        form.setFields([{ name: issue.field, errors: [fieldIssueText(t, issue)] }]);
        void message.open({ key: saveMessageKey, type: 'error', content: t('config.fixErrors') });
      } else {
        void message.open({ key: saveMessageKey, type: 'error', content: errorText(t, error) });
      }
    } finally {
      setSaving(false);
    }
  };

  const reloadLatest = async (): Promise<void> => {
    setReloading(true);
    try {
      show(await api.getConfig(ws.workspaceId, app.appId, bizName));
      setConflict(false);
      setEditing(false);
    } catch (error) {
      void message.error(errorText(t, error));
    } finally {
      setReloading(false);
    }
  };

  if (loadError || !saved || !callApp) {
    return (
      <CallAppPageStatus
        app={app}
        bizName={bizName}
        section="config"
        callApp={callApp}
        error={loadError}
        onRetry={() => void load()}
      />
    );
  }

  const placeholder = (example: string): string => (editing ? example : t('common.notSet'));

  /** A callback URL field, with "Send test callback" (to the saved URL) under it. */
  const callbackUrlItem = (kind: CallbackKind): ReactNode => {
    const name = `${kind}CallbackUrl` as const;
    return (
      <Form.Item
        name={name}
        label={t(`config.${name}`)}
        extra={
          <>
            <div>{t(`config.${kind}CallbackHelp`)}</div>
            {ws.canEdit ? (
              <TestCallback kind={kind} savedUrl={saved.config[name]} editing={editing} test={test} />
            ) : null}
          </>
        }
      >
        <Input
          placeholder={placeholder(t('config.urlPlaceholder'))}
          autoComplete="off"
          data-testid={`field-${name}`}
        />
      </Form.Item>
    );
  };

  return (
    <CallAppPage
      app={app}
      bizName={bizName}
      section="config"
      callApp={callApp}
      intro={
        <>
          <div>{t('config.intro')}</div>
          <Typography.Text type="secondary" className="small" data-testid="config-last-saved">
            {t('config.lastUpdated', { time: formatTime(saved.updatedAt) })}
          </Typography.Text>
        </>
      }
      links={['rooms', 'callbacks', 'recordings']}
      extra={
        ws.canEdit ? (
          editing ? (
            <>
              <Button onClick={cancel} disabled={saving} data-testid="config-cancel">
                {t('config.cancel')}
              </Button>
              <Button
                type="primary"
                icon={<SaveOutlined />}
                loading={saving}
                onClick={() => void save()}
                data-testid="config-save"
              >
                {t('config.save')}
              </Button>
            </>
          ) : (
            <Button type="primary" icon={<EditOutlined />} onClick={edit} data-testid="config-edit">
              {t('config.edit')}
            </Button>
          )
        ) : null
      }
    >
      {conflict ? (
        <Alert
          type="error"
          showIcon
          className="section-alert"
          data-testid="config-conflict"
          title={t('config.conflictTitle')}
          description={t('config.conflictBody')}
          action={
            <Button
              danger
              loading={reloading}
              onClick={() => void reloadLatest()}
              data-testid="config-reload"
            >
              {t('config.reloadLatest')}
            </Button>
          }
        />
      ) : null}
      <Form<FeatureConfig>
        form={form}
        disabled={!editing}
        layout="horizontal"
        labelCol={{ xs: { span: 24 }, md: { span: 7 }, xl: { span: 5 } }}
        wrapperCol={{ xs: { span: 24 }, md: { span: 17 }, xl: { span: 19 } }}
        labelWrap
        className={editing ? 'config-form editing' : 'config-form'}
        data-testid="config-form"
        onFinish={() => void save()}
      >
        <Card title={t('config.section.recording')} className="section-card">
          <Form.Item
            name="autoRecord"
            label={t('config.autoRecord')}
            valuePropName="checked"
            extra={
              <>
                <div>{t('config.autoRecordHelp')}</div>
                <div className="note">
                  <InfoCircleOutlined /> {t('config.autoRecordDefault')}
                </div>
              </>
            }
          >
            <Switch
              checkedChildren={t('config.on')}
              unCheckedChildren={t('config.off')}
              data-testid="field-autoRecord"
            />
          </Form.Item>

          <Form.Item
            name="recordMediaType"
            label={t('config.recordMediaType')}
            extra={t('config.recordMediaTypeHelp')}
          >
            <Select<number>
              style={{ maxWidth: 320 }}
              options={mediaTypes.map((m) => ({ value: m, label: t(`recordings.mediaType.${m}`) }))}
              data-testid="field-recordMediaType"
            />
          </Form.Item>
          <Form.Item
            name="recordMaxMixedStreams"
            label={t('config.recordMaxMixedStreams')}
            extra={
              <>
                <div>
                  {t('config.recordMaxMixedStreamsHelp', {
                    min: limits.maxMixedStreamsMin,
                    max: limits.maxMixedStreamsMax,
                    default: recordingDefaults.maxMixedStreams,
                  })}
                </div>
                {mediaType !== undefined && mediaType !== 0 ? (
                  <div className="note" data-testid="max-mixed-streams-unused">
                    <InfoCircleOutlined /> {t('config.recordMaxMixedStreamsUnused')}
                  </div>
                ) : null}
              </>
            }
          >
            <InputNumber<number>
              style={{ width: 120 }}
              placeholder={String(recordingDefaults.maxMixedStreams)}
              data-testid="field-recordMaxMixedStreams"
            />
          </Form.Item>

          {callbackUrlItem('recording')}
        </Card>
        <Card title={t('config.section.room')} className="section-card">
          {callbackUrlItem('room')}
        </Card>
        <Card title={t('config.section.proxy')} className="section-card" data-testid="proxy-card">
          <Typography.Paragraph type="secondary">{t('config.proxyIntro')}</Typography.Paragraph>
          <Alert
            type="warning"
            showIcon
            title={t('config.proxyWarningTitle')}
            description={t('config.proxyWarning')}
            className="section-alert"
            data-testid="proxy-warning"
          />
          <Form.Item
            label={t('config.proxyAddress')}
            htmlFor="proxyAddress"
            extra={
              <>
                <div>{t('config.proxyAddressHelp')}</div>
                {ws.canEdit && proxyTest.outcome ? (
                  <ProxyTestAlert
                    outcome={proxyTest.outcome}
                    savedAddress={saved.config.proxyAddress}
                    onClose={proxyTest.clear}
                  />
                ) : null}
              </>
            }
          >
            <div className="proxy-address">
              <Form.Item name="proxyAddress" noStyle>
                <Input
                  placeholder={placeholder('example.aliyundoc.com')}
                  autoComplete="off"
                  data-testid="field-proxyAddress"
                />
              </Form.Item>
              {ws.canEdit ? (
                <ProxyTestButton
                  address={proxyAddress}
                  current={() => String(form.getFieldValue('proxyAddress') ?? '')}
                  test={proxyTest}
                  onFieldError={(text) =>
                    form.setFields([{ name: 'proxyAddress', errors: text === null ? [] : [text] }])
                  }
                />
              ) : null}
            </div>
          </Form.Item>
          <Form.Item
            name="proxyEgressIps"
            label={t('config.proxyEgressIps')}
            extra={t('config.proxyEgressIpsHelp')}
          >
            <Input
              placeholder={placeholder('203.0.113.10;203.0.113.11')}
              autoComplete="off"
              data-testid="field-proxyEgressIps"
            />
          </Form.Item>
          {ws.canEdit ? (
            <>
              <Divider />
              <ProxySecretPanel
                app={app}
                bizName={bizName}
                address={proxyAddress}
                onRotated={proxyTest.clear}
              />
            </>
          ) : null}
        </Card>
        <button type="submit" hidden />
      </Form>
      {ws.canEdit ? <CallbackSigningCard app={app} bizName={bizName} /> : null}
      <KeysCard
        app={app}
        callApp={callApp}
        onRotated={() => {
          api.getCallApp(ws.workspaceId, app.appId, bizName).then(setCallApp, () => undefined);
        }}
      />
    </CallAppPage>
  );
}
