import { createContext, useContext } from 'react';
import { roleAtLeast } from '@parley/protocol';
import type { App, Role, Session, WorkspaceSummary } from '@parley/protocol';

export interface SessionValue {
  session: Session;
  /** Re-reads the session (e.g. after creating a workspace); returns the new one. */
  refresh: () => Promise<Session | null>;
  logout: () => Promise<void>;
}

export const SessionContext = createContext<SessionValue | null>(null);

export function useSession(): SessionValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error('useSession outside SessionContext');
  return value;
}

export interface WorkspaceValue {
  workspaceId: string;
  workspace: WorkspaceSummary;
  role: Role;
  /** developer and up: create, edit, delete, reveal, rotate. */
  canEdit: boolean;
  /** admin and up: members and audit log. */
  isAdmin: boolean;
  /** null while loading. */
  apps: App[] | null;
  appsError: unknown;
  reloadApps: () => Promise<App[] | null>;
}

export const WorkspaceContext = createContext<WorkspaceValue | null>(null);

export function useWorkspace(): WorkspaceValue {
  const value = useContext(WorkspaceContext);
  if (!value) throw new Error('useWorkspace outside WorkspaceContext');
  return value;
}

export function permissions(role: Role): { canEdit: boolean; isAdmin: boolean } {
  return { canEdit: roleAtLeast(role, 'developer'), isAdmin: roleAtLeast(role, 'admin') };
}

const wsKey = 'parley.ws';
const appKey = (workspaceId: string): string => `parley.app.${workspaceId}`;

function readStorage(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function writeStorage(key: string, value: string): void {
  try {
    localStorage.setItem(key, value);
  } catch {
    // not remembered; harmless
  }
}

export const remembered = {
  workspace: (): string | null => readStorage(wsKey),
  setWorkspace: (workspaceId: string): void => writeStorage(wsKey, workspaceId),
  app: (workspaceId: string): string | null => readStorage(appKey(workspaceId)),
  setApp: (workspaceId: string, appId: string): void => writeStorage(appKey(workspaceId), appId),
};
