import { useCallback, useEffect, useMemo, useState } from 'react';
import type { ReactNode } from 'react';
import { App as AntApp, ConfigProvider, Spin } from 'antd';
import enUS from 'antd/locale/en_US';
import zhCN from 'antd/locale/zh_CN';
import type { Session } from '@parley/protocol';
import { api, isApiError, onUnauthenticated, setCsrfToken } from './api';
import { I18nProvider, useI18n } from './i18n';
import { SessionContext } from './session';
import type { SessionValue } from './session';
import { navigate } from './router';
import { LoadError } from './components';
import { Login } from './Login';
import { Shell } from './Shell';

export function Root(): ReactNode {
  return (
    <I18nProvider>
      <Themed />
    </I18nProvider>
  );
}

function Themed(): ReactNode {
  const { lang } = useI18n();
  return (
    <ConfigProvider
      locale={lang === 'zh' ? zhCN : enUS}
      theme={{ token: { colorPrimary: '#1677ff', borderRadius: 4 } }}
    >
      <AntApp>
        <SessionGate />
      </AntApp>
    </ConfigProvider>
  );
}

type State =
  | { status: 'loading' }
  | { status: 'error'; error: unknown }
  | { status: 'signedOut'; expired: boolean }
  | { status: 'signedIn'; session: Session };

function SessionGate(): ReactNode {
  const [state, setState] = useState<State>({ status: 'loading' });

  const signedIn = useCallback((session: Session) => {
    setCsrfToken(session.csrfToken);
    setState({ status: 'signedIn', session });
  }, []);

  const load = useCallback(async (): Promise<Session | null> => {
    try {
      const session = await api.session();
      signedIn(session);
      return session;
    } catch (error) {
      if (isApiError(error, 'UNAUTHENTICATED')) {
        setCsrfToken(null);
        setState((s) => ({ status: 'signedOut', expired: s.status === 'signedIn' }));
      } else {
        setState((s) => (s.status === 'signedIn' ? s : { status: 'error', error }));
      }
      return null;
    }
  }, [signedIn]);

  useEffect(() => {
    void load();
  }, [load]);

  useEffect(() => {
    onUnauthenticated(() => {
      setCsrfToken(null);
      setState({ status: 'signedOut', expired: true });
    });
    return () => onUnauthenticated(null);
  }, []);

  const logout = useCallback(async () => {
    try {
      await api.logout();
    } catch {
      // signed out locally either way
    }
    setCsrfToken(null);
    setState({ status: 'signedOut', expired: false });
    navigate('/', { replace: true });
  }, []);

  const session = state.status === 'signedIn' ? state.session : null;
  const value = useMemo<SessionValue | null>(
    () => (session ? { session, refresh: load, logout } : null),
    [session, load, logout],
  );

  if (state.status === 'loading') {
    return (
      <div className="center-page">
        <Spin size="large" />
      </div>
    );
  }
  if (state.status === 'error') {
    return (
      <div className="center-page">
        <LoadError error={state.error} onRetry={() => void load()} />
      </div>
    );
  }
  if (!value) return <Login onSignedIn={signedIn} expired={state.status === 'signedOut' && state.expired} />;
  return (
    <SessionContext.Provider value={value}>
      <Shell />
    </SessionContext.Provider>
  );
}
