import { useEffect, useState } from 'react';
import type { ReactNode } from 'react';
import { App as AntApp, Button, Tooltip } from 'antd';
import { CopyOutlined } from '@ant-design/icons';
import dayjs from 'dayjs';
import { useT } from './i18n';

/** `data-testid` for props objects (onRow, onCell, okButtonProps) where JSX attribute syntax is not available. */
export function tid(id: string): Record<string, never> {
  return { 'data-testid': id } as unknown as Record<string, never>;
}

/** Local date-time, e.g. 2024-05-01 14:03:22. */
export function formatTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '';
  return dayjs(ms).format('YYYY-MM-DD HH:mm:ss');
}

export function useDebounced<T>(value: T, delayMs: number): T {
  const [debounced, setDebounced] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setDebounced(value), delayMs);
    return () => clearTimeout(timer);
  }, [value, delayMs]);
  return debounced;
}

/** Copies text; falls back to execCommand where the Clipboard API is unavailable (plain-HTTP origins). */
export async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through to the legacy path
  }
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.style.position = 'fixed';
  area.style.opacity = '0';
  document.body.appendChild(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}

export function CopyButton(props: {
  text: string;
  label?: string;
  testId?: string;
  type?: 'default' | 'link' | 'text';
}): ReactNode {
  const t = useT();
  const { message } = AntApp.useApp();
  const onClick = async (): Promise<void> => {
    if (await copyText(props.text)) void message.success(t('common.copied'));
    else void message.error(t('common.copyFailed'));
  };
  const button = (
    <Button
      type={props.type ?? 'default'}
      icon={<CopyOutlined />}
      onClick={() => void onClick()}
      data-testid={props.testId}
    >
      {props.label}
    </Button>
  );
  return props.label ? button : <Tooltip title={t('common.copy')}>{button}</Tooltip>;
}
