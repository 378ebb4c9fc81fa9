import { useCallback, useEffect, useState } from 'react';
import type { Dispatch, ReactNode, SetStateAction } from 'react';
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

/** Elapsed time as m:ss, or h:mm:ss from one hour on, e.g. 0:07, 12:34, 1:02:03. */
export function formatElapsed(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** A size in bytes, e.g. 512 B, 1.5 KB, 23.4 MB, 1.02 GB (1 KB = 1024 B). */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)} ${units[unit]}`;
}

/** `Date.now()`, re-rendering the caller every `intervalMs`. */
export function useNow(intervalMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

/** base64url (RFC 4648 §5, no padding) of a string's UTF-8 bytes. */
export function base64url(text: string): string {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * What `read` answers, read when the caller mounts, again whenever `read` changes (make it a
 * useCallback) and on `reload()`. A failed read keeps the last answer; `error` is the latest
 * failure until a read succeeds.
 */
export function useLoad<T>(read: () => Promise<T>): {
  data: T | null;
  error: unknown;
  reload: () => Promise<void>;
  setData: Dispatch<SetStateAction<T | null>>;
} {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const reload = useCallback(async () => {
    try {
      setData(await read());
      setError(null);
    } catch (failure) {
      setError(failure);
    }
  }, [read]);
  useEffect(() => {
    void reload();
  }, [reload]);
  return { data, error, reload, setData };
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
  disabled?: boolean;
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
      disabled={props.disabled}
      data-testid={props.testId}
    >
      {props.label}
    </Button>
  );
  return props.label ? button : <Tooltip title={t('common.copy')}>{button}</Tooltip>;
}
