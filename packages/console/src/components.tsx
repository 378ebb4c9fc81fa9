import { useState } from 'react';
import type { ReactNode } from 'react';
import { App as AntApp, Button, Flex, Form, Input, Modal, Popconfirm, Result, Typography } from 'antd';
import type { FormInstance, TableColumnsType, TablePaginationConfig } from 'antd';
import { PlusOutlined } from '@ant-design/icons';
import { checkId, checkName } from '@parley/protocol';
import { useT } from './i18n';
import type { Translate } from './i18n';
import { ApiError, isApiError } from './api';
import { errorText, fieldIssueText, lastSegment } from './errors';
import { tid } from './util';
import { sharedRule, showServerFieldError } from './forms';

export function PageHeader(props: { title: ReactNode; intro?: ReactNode; extra?: ReactNode }): ReactNode {
  return (
    <div className="page-header">
      <Flex justify="space-between" align="flex-start" gap={16} wrap>
        <div>
          <Typography.Title level={3} style={{ margin: 0 }}>
            {props.title}
          </Typography.Title>
          {props.intro ? <div className="page-intro">{props.intro}</div> : null}
        </div>
        {props.extra ? <Flex gap={8}>{props.extra}</Flex> : null}
      </Flex>
    </div>
  );
}

/** A page's primary "create …" button. */
export function CreateButton(props: {
  onClick: () => void;
  testId: string;
  icon?: ReactNode;
  children: ReactNode;
}): ReactNode {
  return (
    <Button
      type="primary"
      icon={props.icon ?? <PlusOutlined />}
      onClick={props.onClick}
      data-testid={props.testId}
    >
      {props.children}
    </Button>
  );
}

/** Monospace text with a copy button. */
export function CopyableText(props: { text: string; breakAll?: boolean }): ReactNode {
  const t = useT();
  return (
    <Typography.Text
      className={props.breakAll ? 'mono break-all' : 'mono'}
      copyable={{ text: props.text, tooltips: [t('common.copy'), t('common.copied')] }}
    >
      {props.text}
    </Typography.Text>
  );
}

interface Paging {
  page: number;
  pageSize: number;
}

/** A table's pagination: page sizes to choose from, the total, and page 1 again after a new page size. */
export function tablePagination(
  t: Translate,
  props: {
    current: number;
    pageSize: number;
    total: number;
    pageSizeOptions: number[];
    setPaging: (change: (paging: Paging) => Paging) => void;
  },
): TablePaginationConfig {
  const { setPaging, ...shown } = props;
  return {
    ...shown,
    showSizeChanger: true,
    showTotal: (total) => t('common.total', { total }),
    onChange: (current, pageSize) =>
      setPaging((p) => ({ page: pageSize !== p.pageSize ? 1 : current, pageSize })),
  };
}

/** A table's actions column, for those who may use the actions only (none for viewers). */
export function actionsColumn<Row>(
  t: Translate,
  shown: boolean,
  render: (row: Row) => ReactNode,
): TableColumnsType<Row> {
  return shown
    ? [{ key: 'actions', title: t('common.actions'), render: (_: unknown, row: Row) => render(row) }]
    : [];
}

/** A failed load, with a retry button. */
export function LoadError(props: { error: unknown; onRetry?: () => void }): ReactNode {
  const t = useT();
  return (
    <Result
      status="warning"
      title={t('common.loadFailed')}
      subTitle={errorText(t, props.error)}
      extra={
        props.onRetry ? (
          <Button type="primary" onClick={props.onRetry}>
            {t('common.retry')}
          </Button>
        ) : null
      }
    />
  );
}

/**
 * A modal around a form: OK (or Enter in a field) validates, `submit`s, closes and hands the
 * result to `onDone`. A failed request goes to `showOnField` (which shows it on a form field and
 * returns true, or returns false) and otherwise shows as a message.
 */
export function FormModal<Values extends object, Answer = void>(props: {
  open: boolean;
  title: ReactNode;
  /** Defaults to "Create". */
  okText?: string | undefined;
  okTestId: string;
  form: FormInstance<Values>;
  initialValues?: Partial<Values>;
  submit: (values: Values) => Promise<Answer>;
  onDone?: (result: Answer) => void;
  showOnField?: (error: unknown) => boolean;
  onClose: () => void;
  children: ReactNode;
}): ReactNode {
  const t = useT();
  const { message } = AntApp.useApp();
  const [busy, setBusy] = useState(false);

  const submit = async (): Promise<void> => {
    let values: Values;
    try {
      values = await props.form.validateFields();
    } catch {
      return;
    }
    setBusy(true);
    try {
      const result = await props.submit(values);
      props.onClose();
      props.onDone?.(result);
    } catch (error) {
      if (!props.showOnField?.(error)) void message.error(errorText(t, error));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal
      open={props.open}
      title={props.title}
      okText={props.okText ?? t('common.create')}
      cancelText={t('common.cancel')}
      confirmLoading={busy}
      onOk={() => void submit()}
      onCancel={props.onClose}
      destroyOnHidden
      okButtonProps={tid(props.okTestId)}
    >
      <Form
        form={props.form}
        layout="vertical"
        initialValues={props.initialValues}
        onFinish={() => void submit()}
        preserve={false}
      >
        {props.children}
        <button type="submit" hidden />
      </Form>
    </Modal>
  );
}

export interface IdNameValues {
  id?: string;
  name: string;
}

/**
 * A modal asking for a name and, optionally, an id (appId / workspaceId: generated by the
 * server when left empty). Both checked with the shared validators before anything is sent.
 */
export function IdNameModal(props: {
  open: boolean;
  title: string;
  idField?: 'appId' | 'workspaceId';
  idLabel?: string;
  idHelp?: string;
  nameLabel: string;
  initialName?: string;
  okText?: string;
  testIdPrefix: string;
  onSubmit: (values: IdNameValues) => Promise<void>;
  onClose: () => void;
}): ReactNode {
  const t = useT();
  const [form] = Form.useForm<IdNameValues>();
  const idField = props.idField;

  const showOnField = (error: unknown): boolean => {
    const field =
      error instanceof ApiError && error.field !== undefined ? lastSegment(error.field) : undefined;
    if (field === 'name') {
      showServerFieldError(form, t, error, ['name']);
    } else if (idField && field === idField && error instanceof ApiError) {
      form.setFields([
        {
          name: 'id',
          errors: [fieldIssueText(t, { field, reason: error.reason, message: error.message })],
        },
      ]);
    } else if (idField && (isApiError(error, 'APP_EXISTS') || isApiError(error, 'WORKSPACE_EXISTS'))) {
      form.setFields([{ name: 'id', errors: [errorText(t, error)] }]);
    } else {
      return false;
    }
    return true;
  };

  return (
    <FormModal
      open={props.open}
      title={props.title}
      okText={props.okText}
      okTestId={`${props.testIdPrefix}-ok`}
      form={form}
      initialValues={{ name: props.initialName ?? '' }}
      submit={async (values) => {
        const id = values.id?.trim();
        await props.onSubmit({ name: values.name.trim(), ...(id ? { id } : {}) });
      }}
      showOnField={showOnField}
      onClose={props.onClose}
    >
      {idField ? (
        <Form.Item
          name="id"
          label={
            <>
              {props.idLabel} <Typography.Text type="secondary">{t('common.optional')}</Typography.Text>
            </>
          }
          extra={props.idHelp}
          rules={[
            {
              validator: (_rule, value: unknown) => {
                const text = typeof value === 'string' ? value.trim() : '';
                if (text === '') return Promise.resolve();
                return sharedRule(t, (v) => checkId(idField, v)).validator(_rule, text);
              },
            },
          ]}
        >
          <Input autoComplete="off" data-testid={`${props.testIdPrefix}-id-input`} />
        </Form.Item>
      ) : null}
      <Form.Item name="name" label={props.nameLabel} rules={[sharedRule(t, (v) => checkName('name', v))]}>
        <Input autoFocus autoComplete="off" data-testid={`${props.testIdPrefix}-name-input`} />
      </Form.Item>
    </FormModal>
  );
}

/**
 * A link-style row action behind a confirmation (delete, revoke, close …). Danger-styled unless
 * `danger={false}`; `onConfirm`'s promise keeps the confirmation's OK button loading.
 */
export function ConfirmAction(props: {
  title: ReactNode;
  body: ReactNode;
  okText: string;
  confirmTestId: string;
  label: ReactNode;
  icon?: ReactNode;
  testId: string;
  onConfirm: () => Promise<void>;
  danger?: boolean;
  disabled?: boolean;
}): ReactNode {
  const t = useT();
  const danger = props.danger ?? true;
  return (
    <Popconfirm
      title={props.title}
      description={<div className="confirm-body">{props.body}</div>}
      okText={props.okText}
      cancelText={t('common.cancel')}
      okButtonProps={danger ? { danger: true, ...tid(props.confirmTestId) } : tid(props.confirmTestId)}
      onConfirm={() => props.onConfirm()}
      disabled={props.disabled}
    >
      <Button
        type="link"
        size="small"
        danger={danger}
        className="inline-link"
        icon={props.icon}
        disabled={props.disabled}
        data-testid={props.testId}
      >
        {props.label}
      </Button>
    </Popconfirm>
  );
}
