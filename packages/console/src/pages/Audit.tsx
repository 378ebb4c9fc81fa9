/** Audit log of the workspace (admin and up), filterable, with before/after of each change. */
import { useEffect, useState } from 'react';
import type { ReactNode } from 'react';
import { Button, DatePicker, Form, Input, Select, Table, Tag, Typography } from 'antd';
import type { TableColumnsType } from 'antd';
import type { Dayjs } from 'dayjs';
import { SearchOutlined } from '@ant-design/icons';
import { auditActions } from '@parley/protocol';
import type { AuditEntry, AuditList, AuditQuery } from '@parley/protocol';
import { api } from '../api';
import { isMessageKey, useT } from '../i18n';
import type { Translate } from '../i18n';
import { useWorkspace } from '../session';
import { formatTime, tid } from '../util';
import { LoadError, PageHeader, tablePagination } from '../components';

interface Filters {
  action?: string;
  actor?: string;
  targetId?: string;
  range?: [Dayjs | null, Dayjs | null] | null;
}

function actionLabel(t: Translate, action: string): string {
  const key = `audit.action.${action}`;
  return isMessageKey(key) ? t(key) : action;
}

function toQuery(filters: Filters): AuditQuery {
  const query: AuditQuery = {};
  if (filters.action) query.action = filters.action;
  const actor = filters.actor?.trim();
  if (actor) query.actor = actor;
  const targetId = filters.targetId?.trim();
  if (targetId) query.targetId = targetId;
  const [from, to] = filters.range ?? [null, null];
  if (from) query.from = from.startOf('day').valueOf();
  if (to) query.to = to.endOf('day').valueOf() + 1; // `to` is exclusive
  return query;
}

export function AuditPage(): ReactNode {
  const t = useT();
  const ws = useWorkspace();
  const [form] = Form.useForm<Filters>();
  const [query, setQuery] = useState<AuditQuery>({});
  const [page, setPage] = useState({ page: 1, pageSize: 50 });
  const [data, setData] = useState<AuditList | null>(null);
  const [loading, setLoading] = useState(true);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    let stale = false;
    setLoading(true);
    api.listAudit(ws.workspaceId, { ...query, page: page.page, pageSize: page.pageSize }).then(
      (list) => {
        if (stale) return;
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
  }, [ws.workspaceId, query, page, tick]);

  const columns: TableColumnsType<AuditEntry> = [
    {
      key: 'time',
      title: t('audit.col.time'),
      render: (_, entry) => <span className="nowrap">{formatTime(entry.time)}</span>,
    },
    { key: 'actor', title: t('audit.col.actor'), dataIndex: 'actor' },
    {
      key: 'action',
      title: t('audit.col.action'),
      render: (_, entry) => (
        <span>
          {actionLabel(t, entry.action)}{' '}
          <Tag className="mono small" bordered={false}>
            {entry.action}
          </Tag>
        </span>
      ),
    },
    {
      key: 'target',
      title: t('audit.col.target'),
      render: (_, entry) => (
        <span>
          <Typography.Text type="secondary">{entry.targetType}</Typography.Text>{' '}
          <Typography.Text className="mono">{entry.targetId}</Typography.Text>
        </span>
      ),
    },
  ];

  return (
    <div>
      <PageHeader title={t('audit.title')} />
      <Form<Filters>
        form={form}
        layout="inline"
        className="toolbar filters"
        onFinish={(values) => {
          setQuery(toQuery(values));
          setPage((p) => ({ ...p, page: 1 }));
          setTick((n) => n + 1);
        }}
      >
        <Form.Item name="action">
          <Select
            allowClear
            showSearch={{ optionFilterProp: ['label', 'value'] }}
            listHeight={400}
            placeholder={t('audit.filter.action')}
            style={{ width: 200 }}
            data-testid="audit-action"
            options={auditActions.map((a) => ({ value: a, label: actionLabel(t, a) }))}
          />
        </Form.Item>
        <Form.Item name="actor">
          <Input
            allowClear
            placeholder={t('audit.filter.actor')}
            style={{ width: 200 }}
            data-testid="audit-actor"
          />
        </Form.Item>
        <Form.Item name="targetId">
          <Input
            allowClear
            placeholder={t('audit.filter.target')}
            style={{ width: 150 }}
            data-testid="audit-target"
          />
        </Form.Item>
        <Form.Item name="range">
          <DatePicker.RangePicker
            allowEmpty={[true, true]}
            placeholder={[t('audit.filter.from'), t('audit.filter.to')]}
            data-testid="audit-range"
          />
        </Form.Item>
        <Form.Item>
          <Button type="primary" htmlType="submit" icon={<SearchOutlined />} data-testid="audit-search">
            {t('common.search')}
          </Button>
        </Form.Item>
        <Form.Item>
          <Button
            onClick={() => {
              form.resetFields();
              setQuery({});
              setPage((p) => ({ ...p, page: 1 }));
            }}
          >
            {t('common.reset')}
          </Button>
        </Form.Item>
      </Form>
      {loadError && !data ? (
        <LoadError error={loadError} onRetry={() => setTick((n) => n + 1)} />
      ) : (
        <Table<AuditEntry>
          rowKey="id"
          columns={columns}
          dataSource={data?.items ?? []}
          loading={loading}
          scroll={{ x: 'max-content' }}
          locale={{ emptyText: t('audit.empty') }}
          onRow={(entry) => tid(`audit-row-${entry.id}`)}
          expandable={{
            expandedRowRender: (entry) => <BeforeAfter entry={entry} />,
            rowExpandable: (entry) => entry.before !== null || entry.after !== null,
          }}
          pagination={tablePagination(t, {
            current: data?.page ?? page.page,
            pageSize: page.pageSize,
            total: data?.total ?? 0,
            pageSizeOptions: [20, 50, 100, 200],
            setPaging: setPage,
          })}
        />
      )}
    </div>
  );
}

function BeforeAfter(props: { entry: AuditEntry }): ReactNode {
  const t = useT();
  const show = (value: unknown): ReactNode =>
    value === null || value === undefined ? (
      <Typography.Text type="secondary">{t('common.none')}</Typography.Text>
    ) : (
      <pre className="json">{JSON.stringify(value, null, 2)}</pre>
    );
  return (
    <div className="before-after">
      <div>
        <Typography.Text strong>{t('audit.before')}</Typography.Text>
        {show(props.entry.before)}
      </div>
      <div>
        <Typography.Text strong>{t('audit.after')}</Typography.Text>
        {show(props.entry.after)}
      </div>
    </div>
  );
}
