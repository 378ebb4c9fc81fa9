import { pathOf } from './router';

export const patterns = {
  callApps: '/w/:ws/apps/:appId/call-apps',
  config: '/w/:ws/apps/:appId/call-apps/:bizName/config',
  rooms: '/w/:ws/apps/:appId/call-apps/:bizName/rooms',
  callbacks: '/w/:ws/apps/:appId/call-apps/:bizName/callbacks',
  recordings: '/w/:ws/apps/:appId/call-apps/:bizName/recordings',
  appLanding: '/w/:ws/call-apps',
  tokens: '/w/:ws/tokens',
  members: '/w/:ws/members',
  audit: '/w/:ws/audit',
  workspace: '/w/:ws',
} as const;

export const paths = {
  callApps: (ws: string, appId: string): string => pathOf('w', ws, 'apps', appId, 'call-apps'),
  config: (ws: string, appId: string, bizName: string): string =>
    pathOf('w', ws, 'apps', appId, 'call-apps', bizName, 'config'),
  rooms: (ws: string, appId: string, bizName: string): string =>
    pathOf('w', ws, 'apps', appId, 'call-apps', bizName, 'rooms'),
  callbacks: (ws: string, appId: string, bizName: string): string =>
    pathOf('w', ws, 'apps', appId, 'call-apps', bizName, 'callbacks'),
  recordings: (ws: string, appId: string, bizName: string): string =>
    pathOf('w', ws, 'apps', appId, 'call-apps', bizName, 'recordings'),
  appLanding: (ws: string): string => pathOf('w', ws, 'call-apps'),
  tokens: (ws: string): string => pathOf('w', ws, 'tokens'),
  members: (ws: string): string => pathOf('w', ws, 'members'),
  audit: (ws: string): string => pathOf('w', ws, 'audit'),
};
