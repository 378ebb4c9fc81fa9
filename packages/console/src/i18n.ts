/**
 * The one i18n layer of the console. Every UI string is a key of `en`; `zh` must have exactly
 * the same keys (a missing or extra key is a compile error). Placeholders are `{name}`.
 * The zh wording follows the original mPaaS console page (seed/manage-call-apps.zh.txt).
 */
import { createContext, createElement, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import type { ReactNode } from 'react';
import dayjs from 'dayjs';
import 'dayjs/locale/zh-cn';
import type { AuditAction, ErrorCode, FieldReason } from '@parley/protocol';

const en = {
  'app.product': 'Parley',
  'app.tagline': 'Audio/video call console',

  'common.ok': 'OK',
  'common.cancel': 'Cancel',
  'common.save': 'Save',
  'common.edit': 'Edit',
  'common.delete': 'Delete',
  'common.create': 'Create',
  'common.close': 'Close',
  'common.copy': 'Copy',
  'common.copied': 'Copied',
  'common.copyFailed': 'Could not copy; select the text and copy it by hand',
  'common.reload': 'Reload',
  'common.retry': 'Retry',
  'common.search': 'Search',
  'common.reset': 'Reset',
  'common.actions': 'Actions',
  'common.never': 'Never',
  'common.notSet': 'Not set',
  'common.none': '(none)',
  'common.total': '{total} in total',
  'common.readOnly': 'You have the viewer role in this workspace: you can look but not change anything.',
  'common.networkError': 'Cannot reach the Parley server. Check your connection and try again.',
  'common.unexpected': 'Something went wrong ({code}).',
  'common.loadFailed': 'Could not load this page',
  'common.seconds': '{n} s',
  'common.minutes': '{n} min',
  'common.optional': '(optional)',

  'lang.switchTo': '中文',
  'lang.switchTitle': 'Switch language',

  'header.workspace': 'Workspace',
  'header.app': 'App',
  'header.selectApp': 'Select an app',
  'header.noApps': 'No apps',
  'header.newWorkspace': 'New workspace',
  'header.newApp': 'New app',
  'header.renameApp': 'Rename app',
  'header.deleteApp': 'Delete app',
  'header.appMenu': 'App actions',
  'header.api': 'API',
  'header.apiTitle': 'REST API reference (OpenAPI)',
  'header.logout': 'Sign out',

  'nav.callApps': 'Call applications',
  'nav.tokens': 'API tokens',
  'nav.members': 'Members',
  'nav.audit': 'Audit log',

  'login.title': 'Sign in to Parley',
  'login.email': 'Email',
  'login.password': 'Password',
  'login.submit': 'Sign in',
  'login.emailRequired': 'Enter your email',
  'login.passwordRequired': 'Enter your password',
  'login.rateLimited': 'Too many failed sign-ins. Try again in {time}.',

  'role.owner': 'Owner',
  'role.admin': 'Admin',
  'role.developer': 'Developer',
  'role.viewer': 'Viewer',

  'ws.noneTitle': 'You are not a member of any workspace',
  'ws.noneBody': 'Create a workspace, or ask an administrator to add you to one.',
  'ws.createTitle': 'New workspace',
  'ws.id': 'Workspace ID',
  'ws.idHelp': 'Letters, digits, "_" and "-". Keep your mPaaS workspaceId here; generated when left empty.',
  'ws.name': 'Workspace name',
  'ws.created': 'Created workspace "{name}"',
  'ws.notMember': 'You are not a member of workspace "{ws}", or it does not exist.',

  'apps.noneTitle': 'This workspace has no app yet',
  'apps.noneBody':
    'Call applications belong to an app. Create one to get started; when moving from mPaaS, keep your appId.',
  'apps.noneViewer': 'Ask an administrator or developer of this workspace to create one.',
  'apps.create': 'Create app',
  'apps.createTitle': 'New app',
  'apps.appId': 'App ID',
  'apps.appIdHelp': 'Letters, digits, "_" and "-". Generated when left empty.',
  'apps.name': 'App name',
  'apps.created': 'Created app "{name}"',
  'apps.renameTitle': 'Rename app',
  'apps.renamed': 'App renamed',
  'apps.deleteTitle': 'Delete app "{name}"?',
  'apps.deleteBody': 'Only an app without call applications can be deleted. This cannot be undone.',
  'apps.deleted': 'Deleted app "{name}"',
  'apps.notFound': 'App "{appId}" does not exist in this workspace.',

  'callApps.title': 'Call applications',
  'callApps.intro':
    'View the name, bizName, auto-record status, creation time and key of each call application, and configure its features.',
  'callApps.create': 'Create call application',
  'callApps.searchPlaceholder': 'Search by name or bizName',
  'callApps.col.name': 'Name',
  'callApps.col.bizName': 'bizName',
  'callApps.col.autoRecord': 'Auto-record',
  'callApps.col.createdAt': 'Created',
  'callApps.col.key': 'Key',
  'callApps.col.actions': 'Actions',
  'callApps.help.name': 'The name entered when the application was created; editable.',
  'callApps.help.bizName':
    'The call scene code, generated when the application is created. Terminals can call each other only when they use the same bizName.',
  'callApps.help.autoRecord': 'Whether cloud auto-recording is on. Change it in Feature config.',
  'callApps.help.key':
    'Generated when the application is created; your business server signs client credentials with it.',
  'callApps.autoRecordOn': 'On',
  'callApps.autoRecordOff': 'Off',
  'callApps.viewKey': 'View key',
  'callApps.viewDocs': 'View docs',
  'callApps.featureConfig': 'Feature config',
  'callApps.liveRooms': 'Live rooms',
  'callApps.rename': 'Rename',
  'callApps.renamed': 'Name updated',
  'callApps.delete': 'Delete',
  'callApps.deleteTitle': 'Delete call application "{name}"?',
  'callApps.deleteBody':
    'Terminals using bizName {bizName} will no longer be able to call, and its key stops working. This cannot be undone.',
  'callApps.deleted': 'Deleted "{name}"',
  'callApps.created': 'Created call application "{name}"',
  'callApps.createTitle': 'Create call application',
  'callApps.name': 'Call application name',
  'callApps.namePlaceholder': 'e.g. Customer support video',
  'callApps.createHint': 'The bizName and the key are generated when the application is created.',
  'callApps.empty': 'No call applications yet',
  'callApps.emptySearch': 'No call application matches "{search}"',

  'keys.title': 'Keys',
  'keys.intro':
    'Your business server signs client credentials (SHA256withRSA over bizName + appId + workspaceId + uid + expireTime) with the active key.',
  'keys.revealTitle': 'View key: {name}',
  'keys.reauthPrompt': 'To protect the key, enter your sign-in password to confirm it is you.',
  'keys.password': 'Your password',
  'keys.passwordRequired': 'Enter your password',
  'keys.reveal': 'Show key',
  'keys.keyId': 'Key ID',
  'keys.fingerprint': 'Fingerprint (SHA-256)',
  'keys.privateKey': 'Private key (PKCS#8 PEM)',
  'keys.copyPem': 'Copy private key',
  'keys.secretTitle': 'Keep this key secret',
  'keys.secretNote':
    'Only your business server should hold this private key. Never put it in client code or commit it to a repository. If it may have leaked, rotate the key at once.',
  'keys.status.active': 'Active',
  'keys.status.retiring': 'In grace period',
  'keys.status.retired': 'Retired',
  'keys.col.key': 'Key',
  'keys.col.status': 'Status',
  'keys.col.createdAt': 'Created',
  'keys.col.retiresAt': 'Stops verifying',
  'keys.rotate': 'Rotate key',
  'keys.rotateTitle': 'Rotate the key of "{name}"?',
  'keys.rotateBody':
    'A new key is generated; sign with it from now on. The old key keeps verifying for a grace period (24 hours by default) so running clients are not cut off; after that, credentials signed with it are refused.',
  'keys.graceHours': 'Grace period (hours)',
  'keys.rotated': 'Key rotated. Update your business server with the new key.',
  'keys.retire': 'End grace period now',
  'keys.retireConfirm': 'Stop accepting this old key now? Credentials signed with it are refused at once.',
  'keys.retiredDone': 'The old key no longer verifies',

  'config.title': 'Feature configuration',
  'config.intro':
    'Configure cloud auto-recording, callback URLs and the media-stream proxy. Click Edit to enter edit mode, then Save.',
  'config.edit': 'Edit',
  'config.save': 'Save',
  'config.cancel': 'Cancel',
  'config.saved': 'Configuration saved',
  'config.fixErrors': 'Fix the highlighted fields, then save again.',
  'config.lastUpdated': 'Last saved {time}',
  'config.section.recording': 'Cloud auto-recording and recording callback',
  'config.autoRecord': 'Cloud auto-recording',
  'config.autoRecordHelp':
    'When on, the server starts recording as soon as a call begins, stops when the call ends, and produces a recording file. When off, the server records nothing.',
  'config.autoRecordDefault': 'Cloud recording is off by default and must be turned on by hand.',
  'config.on': 'On',
  'config.off': 'Off',
  'config.recordingCallbackUrl': 'Recording callback URL',
  'config.recordingCallbackHelp':
    'An http:// or https:// URL. When recording starts, pauses or ends, or a recording file has a problem, the server POSTs the event to it as application/json.',
  'config.section.room': 'Room-status callback',
  'config.roomCallbackUrl': 'Room-status callback URL',
  'config.roomCallbackHelp':
    'An http:// or https:// URL. When a room is created, a user joins or leaves, or a room is destroyed, the server POSTs the event to it.',
  'config.urlPlaceholder': 'https://example.com/parley/callback',
  'config.section.proxy': 'Media-stream proxy',
  'config.proxyIntro':
    'If your network sits in a security isolation zone and cannot reach the media server directly, a proxy server can forward the media streams. Once set, the audio and video of this application go through the proxy.',
  'config.proxyWarning':
    'A wrong proxy address breaks calls. Leave these fields empty unless you need a proxy.',
  'config.proxyAddress': 'Media-stream proxy server address',
  'config.proxyAddressHelp': 'A host name such as example.aliyundoc.com (optionally with :port).',
  'config.proxyEgressIps': 'Egress IPs',
  'config.proxyEgressIpsHelp': 'Separate several egress IPs with ASCII semicolons (;).',
  'config.conflictTitle': 'Someone else changed this configuration',
  'config.conflictBody':
    'Someone saved this configuration while you were editing, so your changes were not saved. They are still in the form. Reload to see the latest configuration (this discards your edits), then edit again.',
  'config.reloadLatest': 'Reload latest configuration',
  'config.discardTitle': 'Discard your edits and load the latest configuration?',

  'rooms.title': 'Live rooms',
  'rooms.intro':
    'The rooms of this call application that exist right now, and who is in them. Terminals create and join rooms with a credential signed by your business server.',
  'rooms.col.roomId': 'Room ID',
  'rooms.col.createdAt': 'Created',
  'rooms.col.duration': 'Live for',
  'rooms.col.participants': 'Participants',
  'rooms.refresh': 'Refresh',
  'rooms.autoRefresh': 'Refreshes every 3 s while this tab is visible. Updated {time}',
  'rooms.refreshFailed': 'Could not refresh the rooms: {error}',
  'rooms.empty':
    'No live rooms. A room appears here when a terminal creates or joins one with a credential for bizName {bizName}.',
  'rooms.selectToJoin': 'Select a room to join it from here.',
  'rooms.create': 'Create room',
  'rooms.createHelp':
    'Creates an empty room that terminals can join by its room ID. It is destroyed if nobody joins within 5 minutes.',
  'rooms.created': 'Room {roomId} created. It is destroyed if nobody joins within 5 minutes.',
  'rooms.close': 'Close room',
  'rooms.closeTitle': 'Close room {roomId}?',
  'rooms.closeBody':
    'Everyone in the room is disconnected and the room is destroyed; its room ID cannot be joined again.',
  'rooms.closed': 'Room {roomId} closed',
  'rooms.participant.uid': 'uid',
  'rooms.participant.joinedAt': 'Joined',
  'rooms.participant.duration': 'In the room for',
  'rooms.participant.media': 'Audio / video',
  'rooms.participant.empty': 'Nobody is in this room yet.',
  'rooms.remove': 'Remove',
  'rooms.removeTitle': 'Remove {uid} from the room?',
  'rooms.removeBody': 'Their terminal leaves the room at once. With a valid credential it can join again.',
  'rooms.removed': 'Removed {uid} from room {roomId}',
  'rooms.track.audio': 'Audio on',
  'rooms.track.audioMuted': 'Audio muted',
  'rooms.track.video': 'Video on',
  'rooms.track.videoMuted': 'Video off',
  'rooms.track.none': 'No audio or video',
  'rooms.tryCall': 'Try a call',
  'rooms.tryHelp': 'Opens the call page in a new tab.',
  'rooms.join': 'Join this room',
  'rooms.joinHelp': 'Opens the call page in a new tab and joins room {roomId}.',
  'rooms.credentialNote':
    'The console signs a credential for you that is valid for one hour. Real terminals get theirs from your business server.',
  'rooms.signingDocs': 'How signing works',
  'rooms.popupBlocked': 'The browser blocked the new tab. Allow pop-ups for this site and try again.',

  'tokens.title': 'API tokens',
  'tokens.intro':
    'Servers and scripts call the REST API with an API token, sent as "Authorization: Bearer <token>". A token acts with the role given to it.',
  'tokens.create': 'Create token',
  'tokens.col.name': 'Name',
  'tokens.col.role': 'Role',
  'tokens.col.prefix': 'Token',
  'tokens.col.createdBy': 'Created by',
  'tokens.col.createdAt': 'Created',
  'tokens.col.lastUsedAt': 'Last used',
  'tokens.col.expiresAt': 'Expires',
  'tokens.revoke': 'Revoke',
  'tokens.revokeConfirm': 'Revoke token "{name}"? Programs using it lose access at once.',
  'tokens.revoked': 'Token "{name}" revoked',
  'tokens.name': 'Token name',
  'tokens.namePlaceholder': 'e.g. business-server',
  'tokens.role': 'Role',
  'tokens.roleHelp': 'At most your own role.',
  'tokens.expiry': 'Expires after',
  'tokens.days': '{n} days',
  'tokens.noExpiry': 'Never expires',
  'tokens.expired': 'Expired',
  'tokens.createdTitle': 'Token created',
  'tokens.secretNote': 'Copy this token now and store it safely. It will not be shown again.',
  'tokens.copySecret': 'Copy token',
  'tokens.empty': 'No API tokens yet',

  'members.title': 'Members',
  'members.add': 'Add member',
  'members.col.email': 'Email',
  'members.col.name': 'Name',
  'members.col.role': 'Role',
  'members.col.addedAt': 'Added',
  'members.you': '(you)',
  'members.remove': 'Remove',
  'members.removeConfirm': 'Remove {email} from this workspace?',
  'members.removed': 'Removed {email}',
  'members.roleChanged': 'Role of {email} changed to {role}',
  'members.added': 'Added {email}',
  'members.email': 'Email',
  'members.emailInvalid': 'Enter a valid email address',
  'members.name': 'Name',
  'members.role': 'Role',
  'members.password': 'Initial password',
  'members.passwordHelp': 'Needed only when this email has no Parley account yet; at least 12 characters.',
  'members.passwordTooShort': 'At least 12 characters',

  'audit.title': 'Audit log',
  'audit.col.time': 'Time',
  'audit.col.actor': 'Actor',
  'audit.col.action': 'Action',
  'audit.col.target': 'Target',
  'audit.filter.action': 'All actions',
  'audit.filter.actor': 'Actor (email or token:name)',
  'audit.filter.target': 'Target ID',
  'audit.filter.from': 'From',
  'audit.filter.to': 'To',
  'audit.before': 'Before',
  'audit.after': 'After',
  'audit.empty': 'No matching entries',

  'audit.action.app.create': 'Create app',
  'audit.action.app.rename': 'Rename app',
  'audit.action.app.delete': 'Delete app',
  'audit.action.callApp.create': 'Create call application',
  'audit.action.callApp.rename': 'Rename call application',
  'audit.action.callApp.delete': 'Delete call application',
  'audit.action.callApp.config.save': 'Save feature configuration',
  'audit.action.callApp.key.reveal': 'View key',
  'audit.action.callApp.key.rotate': 'Rotate key',
  'audit.action.callApp.key.retire': 'End key grace period',
  'audit.action.member.add': 'Add member',
  'audit.action.member.role': 'Change member role',
  'audit.action.member.remove': 'Remove member',
  'audit.action.token.create': 'Create API token',
  'audit.action.token.revoke': 'Revoke API token',
  'audit.action.workspace.create': 'Create workspace',
  'audit.action.room.create': 'Create room',
  'audit.action.room.close': 'Close room',
  'audit.action.room.removeParticipant': 'Remove participant from room',
  'audit.action.callback.redeliver': 'Redeliver callback',
  'audit.action.callback.secret.rotate': 'Rotate callback signing secret',

  'page.notFound': 'Page not found',
  'page.forbidden': 'Your role in this workspace does not give access to this page.',
  'page.home': 'Back to call applications',

  'reason.REQUIRED': 'This field is required',
  'reason.TOO_LONG': 'At most {max} characters',
  'reason.BAD_CHARACTERS': 'Must not contain control characters',
  'reason.BAD_CHARACTERS_ID': 'Only letters, digits, "_" and "-"',
  'reason.URL_INVALID': 'Enter a valid URL such as https://example.com/callback',
  'reason.URL_SCHEME': 'Must start with http:// or https://',
  'reason.URL_USERINFO': 'Must not contain a user name or password',
  'reason.HOST_INVALID': 'Enter a host name such as proxy.example.com, without http:// or a path',
  'reason.PORT_INVALID': 'The port must be a number from 1 to 65535',
  'reason.IP_INVALID': '"{value}" is not a valid IPv4 or IPv6 address',
  'reason.IP_DUPLICATE': '"{value}" is listed twice',
  'reason.TOO_MANY': 'At most {max} addresses',

  'err.VALIDATION_FAILED': 'The request is invalid.',
  'err.BAD_REQUEST': 'The request could not be understood.',
  'err.UNAUTHENTICATED': 'Your session has ended. Sign in again.',
  'err.INVALID_LOGIN': 'Email or password is incorrect.',
  'err.REAUTH_FAILED': 'The password is incorrect.',
  'err.CSRF_TOKEN_INVALID': 'Your session token is out of date; reload the page.',
  'err.FORBIDDEN': 'Your role does not allow this.',
  'err.ROUTE_NOT_FOUND': 'No such endpoint.',
  'err.WORKSPACE_NOT_FOUND': 'No such workspace.',
  'err.APP_NOT_FOUND': 'No such app.',
  'err.CALL_APP_NOT_FOUND': 'No such call application.',
  'err.KEY_NOT_FOUND': 'No such key.',
  'err.USER_NOT_FOUND': 'No such user.',
  'err.MEMBER_NOT_FOUND': 'No such member.',
  'err.TOKEN_NOT_FOUND': 'No such API token.',
  'err.ROOM_NOT_FOUND': 'This room no longer exists; it may have closed already.',
  'err.PARTICIPANT_NOT_FOUND': 'This participant is no longer in the room.',
  'err.CALLBACK_NOT_FOUND': 'No such callback event.',
  'err.CALLBACK_URL_NOT_SET': 'Set the callback URL in the feature configuration first.',
  'err.WORKSPACE_EXISTS': 'A workspace with this ID already exists.',
  'err.APP_EXISTS': 'An app with this ID already exists in the workspace.',
  'err.APP_NOT_EMPTY': 'Delete the call applications of this app first.',
  'err.MEMBER_EXISTS': 'This user is already a member of the workspace.',
  'err.LAST_OWNER': 'A workspace must keep at least one owner.',
  'err.VERSION_CONFLICT':
    'Someone else saved this in the meantime. Reload to see their changes, then edit again.',
  'err.KEY_NOT_RETIRING': 'Only a key in its grace period can be retired.',
  'err.CREDENTIAL_MALFORMED': 'The credential is missing a field or a field has the wrong type.',
  'err.CREDENTIAL_UID_INVALID': 'The uid must be 1 to 128 letters, digits or underscores.',
  'err.CREDENTIAL_EXPIRED': 'The credential has expired (its expireTime is in the past).',
  'err.CREDENTIAL_BIZNAME_UNKNOWN': 'No call application has this bizName.',
  'err.CREDENTIAL_SCOPE_MISMATCH':
    'The appId or workspaceId does not match the call application of this bizName.',
  'err.CREDENTIAL_SIGNATURE_INVALID': "The signature does not verify with the call application's key.",
  'err.CREDENTIAL_KEY_RETIRED':
    'The credential was signed with a key that has been rotated out; sign with the current key.',
  'err.LOGIN_RATE_LIMITED': 'Too many failed sign-ins. Try again later.',
  'err.PAYLOAD_TOO_LARGE': 'The request is too large.',
  'err.NOT_READY': 'The server is starting up. Try again in a moment.',
  'err.INTERNAL': 'Internal server error.',
} satisfies Record<string, string>;

export type MessageKey = keyof typeof en;

const zh: Record<MessageKey, string> = {
  'app.product': 'Parley',
  'app.tagline': '音视频通话控制台',

  'common.ok': '确定',
  'common.cancel': '取消',
  'common.save': '保存',
  'common.edit': '编辑',
  'common.delete': '删除',
  'common.create': '创建',
  'common.close': '关闭',
  'common.copy': '复制',
  'common.copied': '已复制',
  'common.copyFailed': '复制失败,请手动选择文本复制',
  'common.reload': '重新加载',
  'common.retry': '重试',
  'common.search': '查询',
  'common.reset': '重置',
  'common.actions': '操作',
  'common.never': '从不',
  'common.notSet': '未设置',
  'common.none': '(无)',
  'common.total': '共 {total} 条',
  'common.readOnly': '您在此工作空间中是只读成员,只能查看,不能修改。',
  'common.networkError': '无法连接 Parley 服务器,请检查网络后重试。',
  'common.unexpected': '出现错误({code})。',
  'common.loadFailed': '页面加载失败',
  'common.seconds': '{n} 秒',
  'common.minutes': '{n} 分钟',
  'common.optional': '(可选)',

  'lang.switchTo': 'English',
  'lang.switchTitle': '切换语言',

  'header.workspace': '工作空间',
  'header.app': '应用',
  'header.selectApp': '选择应用',
  'header.noApps': '暂无应用',
  'header.newWorkspace': '创建工作空间',
  'header.newApp': '创建应用',
  'header.renameApp': '重命名应用',
  'header.deleteApp': '删除应用',
  'header.appMenu': '应用操作',
  'header.api': 'API',
  'header.apiTitle': 'REST API 参考(OpenAPI)',
  'header.logout': '退出登录',

  'nav.callApps': '通话应用',
  'nav.tokens': 'API 令牌',
  'nav.members': '成员管理',
  'nav.audit': '操作审计',

  'login.title': '登录 Parley',
  'login.email': '邮箱',
  'login.password': '密码',
  'login.submit': '登录',
  'login.emailRequired': '请输入邮箱',
  'login.passwordRequired': '请输入密码',
  'login.rateLimited': '登录失败次数过多,请在 {time} 后重试。',

  'role.owner': '所有者',
  'role.admin': '管理员',
  'role.developer': '开发者',
  'role.viewer': '只读成员',

  'ws.noneTitle': '您还不是任何工作空间的成员',
  'ws.noneBody': '请创建一个工作空间,或联系管理员将您加入。',
  'ws.createTitle': '创建工作空间',
  'ws.id': '工作空间 ID',
  'ws.idHelp': '字母、数字、“_”和“-”。从 mPaaS 迁移时可沿用原 workspaceId;留空则自动生成。',
  'ws.name': '工作空间名称',
  'ws.created': '已创建工作空间“{name}”',
  'ws.notMember': '您不是工作空间“{ws}”的成员,或该工作空间不存在。',

  'apps.noneTitle': '此工作空间还没有应用',
  'apps.noneBody': '通话应用属于某个应用,请先创建一个应用;从 mPaaS 迁移时可沿用原 appId。',
  'apps.noneViewer': '请联系此工作空间的管理员或开发者创建。',
  'apps.create': '创建应用',
  'apps.createTitle': '创建应用',
  'apps.appId': '应用 ID',
  'apps.appIdHelp': '字母、数字、“_”和“-”,留空则自动生成。',
  'apps.name': '应用名称',
  'apps.created': '已创建应用“{name}”',
  'apps.renameTitle': '重命名应用',
  'apps.renamed': '应用已重命名',
  'apps.deleteTitle': '删除应用“{name}”?',
  'apps.deleteBody': '只能删除不含通话应用的应用,此操作不可撤销。',
  'apps.deleted': '已删除应用“{name}”',
  'apps.notFound': '此工作空间中不存在应用“{appId}”。',

  'callApps.title': '通话应用',
  'callApps.intro': '在通话应用列表页面,您可以查看通话应用的名称、bizName、自动录制状态、创建时间以及密钥。',
  'callApps.create': '创建通话应用',
  'callApps.searchPlaceholder': '搜索通话应用名称或 bizName',
  'callApps.col.name': '通话应用名称',
  'callApps.col.bizName': 'bizName',
  'callApps.col.autoRecord': '自动录制状态',
  'callApps.col.createdAt': '创建时间',
  'callApps.col.key': '密钥',
  'callApps.col.actions': '操作',
  'callApps.help.name': '创建应用时输入的名称,可编辑。',
  'callApps.help.bizName':
    '音视频通话场景码,应用创建后自动生成。使用同一个 bizName 的各个终端之间可以进行音视频通话。',
  'callApps.help.autoRecord': '自动录制是否开启。可点击操作列中的功能配置进行配置。',
  'callApps.help.key': '应用创建后自动生成,用于在服务端生成签名。',
  'callApps.autoRecordOn': '已开启',
  'callApps.autoRecordOff': '已停用',
  'callApps.viewKey': '查看密钥',
  'callApps.viewDocs': '查看文档',
  'callApps.featureConfig': '功能配置',
  'callApps.liveRooms': '实时房间',
  'callApps.rename': '编辑名称',
  'callApps.renamed': '名称已更新',
  'callApps.delete': '删除',
  'callApps.deleteTitle': '删除通话应用“{name}”?',
  'callApps.deleteBody':
    '删除后,使用 bizName {bizName} 的终端将无法再发起通话,其密钥也随之失效。此操作不可撤销。',
  'callApps.deleted': '已删除“{name}”',
  'callApps.created': '已创建通话应用“{name}”',
  'callApps.createTitle': '创建通话应用',
  'callApps.name': '通话应用名称',
  'callApps.namePlaceholder': '例如:客服视频通话',
  'callApps.createHint': 'bizName 和密钥将在应用创建后自动生成。',
  'callApps.empty': '暂无通话应用',
  'callApps.emptySearch': '没有与“{search}”匹配的通话应用',

  'keys.title': '密钥',
  'keys.intro':
    '您的业务服务器使用当前密钥对客户端凭证加签(SHA256withRSA,待签字符串为 bizName + appId + workspaceId + uid + expireTime)。',
  'keys.revealTitle': '查看密钥:{name}',
  'keys.reauthPrompt': '为保护密钥安全,请输入您的登录密码以确认身份。',
  'keys.password': '登录密码',
  'keys.passwordRequired': '请输入登录密码',
  'keys.reveal': '查看',
  'keys.keyId': '密钥 ID',
  'keys.fingerprint': '指纹(SHA-256)',
  'keys.privateKey': '私钥(PKCS#8 PEM)',
  'keys.copyPem': '复制私钥',
  'keys.secretTitle': '请妥善保管密钥',
  'keys.secretNote':
    '此私钥只应保存在您的业务服务器上。请勿写入客户端代码或提交到代码仓库;如怀疑已泄露,请立即轮换密钥。',
  'keys.status.active': '使用中',
  'keys.status.retiring': '宽限期中',
  'keys.status.retired': '已停用',
  'keys.col.key': '密钥',
  'keys.col.status': '状态',
  'keys.col.createdAt': '创建时间',
  'keys.col.retiresAt': '停止验证时间',
  'keys.rotate': '轮换密钥',
  'keys.rotateTitle': '轮换“{name}”的密钥?',
  'keys.rotateBody':
    '系统将生成新密钥,此后请使用新密钥签名。旧密钥在宽限期内(默认 24 小时)仍可通过验证,以免正在运行的客户端中断;宽限期结束后,用旧密钥签名的凭证将被拒绝。',
  'keys.graceHours': '宽限期(小时)',
  'keys.rotated': '密钥已轮换,请将新密钥更新到您的业务服务器。',
  'keys.retire': '立即结束宽限期',
  'keys.retireConfirm': '立即停用此旧密钥?用它签名的凭证将立即被拒绝。',
  'keys.retiredDone': '旧密钥已停止验证',

  'config.title': '功能配置',
  'config.intro':
    '您可以在此页面配置云端自动录制、回调地址以及媒体流代理服务器地址。配置时请点击编辑按钮进入编辑模式,配置完成后点击保存。',
  'config.edit': '编辑',
  'config.save': '保存',
  'config.cancel': '取消',
  'config.saved': '配置已保存',
  'config.fixErrors': '请修正标出的字段后再保存。',
  'config.lastUpdated': '最后保存于 {time}',
  'config.section.recording': '云端自动录制及录制回调地址',
  'config.autoRecord': '云端自动录制',
  'config.autoRecordHelp':
    '开启该功能时,在音视频通话发起时服务端会自动对通话内容进行录制,通话结束时会结束录制,并生成录制文件。关闭时,服务端不进行自动录制。',
  'config.autoRecordDefault': '云端录制的默认状态为 停用,需手动开启。',
  'config.on': '开启',
  'config.off': '停用',
  'config.recordingCallbackUrl': '录制回调地址',
  'config.recordingCallbackHelp':
    '使用 HTTP 或 HTTPS 协议的 URL。当开始录制、暂停录制、结束录制或录制文件出现异常时,服务端会以 POST(application/json)方式将相关状态信息发送到该 URL。',
  'config.section.room': '房间状态回调地址',
  'config.roomCallbackUrl': '房间状态回调地址',
  'config.roomCallbackHelp':
    '使用 HTTP 或 HTTPS 协议的 URL。当创建房间、加入房间、离开房间或销毁房间时,服务端会将相关状态信息发送到该 URL。',
  'config.urlPlaceholder': 'https://example.com/parley/callback',
  'config.section.proxy': '媒体流代理服务器',
  'config.proxyIntro':
    '若您的网络中存在安全隔离区,无法直接访问媒体服务器,可通过设置代理服务器对媒体流数据进行转发。设置媒体流代理服务器后,音视频流数据将通过该代理服务器进行转发。',
  'config.proxyWarning': '代理服务器地址错误会导致音视频通话异常,若无必要请勿填写。',
  'config.proxyAddress': '媒体流代理服务器地址',
  'config.proxyAddressHelp': '格式为:example.aliyundoc.com(可带 :端口)。',
  'config.proxyEgressIps': '出网 IP',
  'config.proxyEgressIpsHelp': '若存在多个出网 IP,使用半角分号(;)隔开。',
  'config.conflictTitle': '配置已被他人修改',
  'config.conflictBody':
    '在您编辑期间,其他人保存了此配置,因此您的修改没有保存,仍保留在表单中。重新加载可查看最新配置(将放弃您的修改),然后再次编辑。',
  'config.reloadLatest': '重新加载最新配置',
  'config.discardTitle': '放弃您的修改并加载最新配置?',

  'rooms.title': '实时房间',
  'rooms.intro': '此通话应用当前存在的房间及房间内的成员。终端使用业务服务器签发的凭证创建或加入房间。',
  'rooms.col.roomId': '房间 ID',
  'rooms.col.createdAt': '创建时间',
  'rooms.col.duration': '已持续',
  'rooms.col.participants': '成员数',
  'rooms.refresh': '刷新',
  'rooms.autoRefresh': '页面可见时每 3 秒自动刷新。更新于 {time}',
  'rooms.refreshFailed': '刷新房间列表失败:{error}',
  'rooms.empty': '暂无实时房间。终端使用 bizName {bizName} 的凭证创建或加入房间后,房间会显示在这里。',
  'rooms.selectToJoin': '选中一个房间后,可从此处加入该房间。',
  'rooms.create': '创建房间',
  'rooms.createHelp': '创建一个空房间,终端可通过房间 ID 加入。若 5 分钟内无人加入,房间将被销毁。',
  'rooms.created': '已创建房间 {roomId}。若 5 分钟内无人加入,房间将被销毁。',
  'rooms.close': '关闭房间',
  'rooms.closeTitle': '关闭房间 {roomId}?',
  'rooms.closeBody': '房间内的所有成员将被断开,房间随即销毁,此房间 ID 将无法再加入。',
  'rooms.closed': '已关闭房间 {roomId}',
  'rooms.participant.uid': 'uid',
  'rooms.participant.joinedAt': '加入时间',
  'rooms.participant.duration': '在房时长',
  'rooms.participant.media': '音视频',
  'rooms.participant.empty': '房间内暂无成员。',
  'rooms.remove': '移出',
  'rooms.removeTitle': '将 {uid} 移出房间?',
  'rooms.removeBody': '该终端将立即离开房间;凭证有效时仍可重新加入。',
  'rooms.removed': '已将 {uid} 移出房间 {roomId}',
  'rooms.track.audio': '音频开启',
  'rooms.track.audioMuted': '音频已静音',
  'rooms.track.video': '视频开启',
  'rooms.track.videoMuted': '视频已关闭',
  'rooms.track.none': '未发布音视频',
  'rooms.tryCall': '试用通话',
  'rooms.tryHelp': '在新标签页中打开通话页面。',
  'rooms.join': '加入此房间',
  'rooms.joinHelp': '在新标签页中打开通话页面并加入房间 {roomId}。',
  'rooms.credentialNote': '控制台将为您签发一个有效期为一小时的凭证。真实终端的凭证由您的业务服务器签发。',
  'rooms.signingDocs': '签名说明',
  'rooms.popupBlocked': '浏览器拦截了新标签页。请允许此网站弹出窗口后重试。',

  'tokens.title': 'API 令牌',
  'tokens.intro':
    '服务器和脚本使用 API 令牌调用 REST API,请求时发送“Authorization: Bearer <令牌>”。令牌以创建时指定的角色执行操作。',
  'tokens.create': '创建令牌',
  'tokens.col.name': '名称',
  'tokens.col.role': '角色',
  'tokens.col.prefix': '令牌',
  'tokens.col.createdBy': '创建者',
  'tokens.col.createdAt': '创建时间',
  'tokens.col.lastUsedAt': '最近使用',
  'tokens.col.expiresAt': '过期时间',
  'tokens.revoke': '吊销',
  'tokens.revokeConfirm': '吊销令牌“{name}”?使用它的程序将立即无法访问。',
  'tokens.revoked': '令牌“{name}”已吊销',
  'tokens.name': '令牌名称',
  'tokens.namePlaceholder': '例如:business-server',
  'tokens.role': '角色',
  'tokens.roleHelp': '不能高于您自己的角色。',
  'tokens.expiry': '有效期',
  'tokens.days': '{n} 天',
  'tokens.noExpiry': '永不过期',
  'tokens.expired': '已过期',
  'tokens.createdTitle': '令牌已创建',
  'tokens.secretNote': '请立即复制并妥善保存此令牌,关闭后将无法再次查看。',
  'tokens.copySecret': '复制令牌',
  'tokens.empty': '暂无 API 令牌',

  'members.title': '成员管理',
  'members.add': '添加成员',
  'members.col.email': '邮箱',
  'members.col.name': '姓名',
  'members.col.role': '角色',
  'members.col.addedAt': '加入时间',
  'members.you': '(您)',
  'members.remove': '移除',
  'members.removeConfirm': '将 {email} 移出此工作空间?',
  'members.removed': '已移除 {email}',
  'members.roleChanged': '已将 {email} 的角色改为{role}',
  'members.added': '已添加 {email}',
  'members.email': '邮箱',
  'members.emailInvalid': '请输入有效的邮箱地址',
  'members.name': '姓名',
  'members.role': '角色',
  'members.password': '初始密码',
  'members.passwordHelp': '仅当该邮箱尚无 Parley 账号时需要,至少 12 个字符。',
  'members.passwordTooShort': '至少 12 个字符',

  'audit.title': '操作审计',
  'audit.col.time': '时间',
  'audit.col.actor': '操作者',
  'audit.col.action': '操作',
  'audit.col.target': '操作对象',
  'audit.filter.action': '全部操作',
  'audit.filter.actor': '操作者(邮箱或 token:名称)',
  'audit.filter.target': '对象 ID',
  'audit.filter.from': '开始时间',
  'audit.filter.to': '结束时间',
  'audit.before': '修改前',
  'audit.after': '修改后',
  'audit.empty': '没有匹配的记录',

  'audit.action.app.create': '创建应用',
  'audit.action.app.rename': '重命名应用',
  'audit.action.app.delete': '删除应用',
  'audit.action.callApp.create': '创建通话应用',
  'audit.action.callApp.rename': '重命名通话应用',
  'audit.action.callApp.delete': '删除通话应用',
  'audit.action.callApp.config.save': '保存功能配置',
  'audit.action.callApp.key.reveal': '查看密钥',
  'audit.action.callApp.key.rotate': '轮换密钥',
  'audit.action.callApp.key.retire': '结束密钥宽限期',
  'audit.action.member.add': '添加成员',
  'audit.action.member.role': '修改成员角色',
  'audit.action.member.remove': '移除成员',
  'audit.action.token.create': '创建 API 令牌',
  'audit.action.token.revoke': '吊销 API 令牌',
  'audit.action.workspace.create': '创建工作空间',
  'audit.action.room.create': '创建房间',
  'audit.action.room.close': '关闭房间',
  'audit.action.room.removeParticipant': '将成员移出房间',
  'audit.action.callback.redeliver': '重新投递回调',
  'audit.action.callback.secret.rotate': '轮换回调签名密钥',

  'page.notFound': '页面不存在',
  'page.forbidden': '您在此工作空间中的角色无权访问此页面。',
  'page.home': '返回通话应用',

  'reason.REQUIRED': '此项为必填项',
  'reason.TOO_LONG': '最多 {max} 个字符',
  'reason.BAD_CHARACTERS': '不能包含控制字符',
  'reason.BAD_CHARACTERS_ID': '只能包含字母、数字、“_”和“-”',
  'reason.URL_INVALID': '请输入有效的 URL,例如 https://example.com/callback',
  'reason.URL_SCHEME': '须使用 HTTP 或 HTTPS 协议(以 http:// 或 https:// 开头)',
  'reason.URL_USERINFO': 'URL 中不能包含用户名或密码',
  'reason.HOST_INVALID': '请输入主机名,例如 proxy.example.com,不要带 http:// 或路径',
  'reason.PORT_INVALID': '端口须为 1 到 65535 之间的数字',
  'reason.IP_INVALID': '“{value}”不是有效的 IPv4 或 IPv6 地址',
  'reason.IP_DUPLICATE': '“{value}”重复出现',
  'reason.TOO_MANY': '最多 {max} 个地址',

  'err.VALIDATION_FAILED': '请求参数不正确。',
  'err.BAD_REQUEST': '无法识别该请求。',
  'err.UNAUTHENTICATED': '登录已失效,请重新登录。',
  'err.INVALID_LOGIN': '邮箱或密码不正确。',
  'err.REAUTH_FAILED': '密码不正确。',
  'err.CSRF_TOKEN_INVALID': '会话令牌已过期,请刷新页面。',
  'err.FORBIDDEN': '您的角色无权执行此操作。',
  'err.ROUTE_NOT_FOUND': '接口不存在。',
  'err.WORKSPACE_NOT_FOUND': '工作空间不存在。',
  'err.APP_NOT_FOUND': '应用不存在。',
  'err.CALL_APP_NOT_FOUND': '通话应用不存在。',
  'err.KEY_NOT_FOUND': '密钥不存在。',
  'err.USER_NOT_FOUND': '用户不存在。',
  'err.MEMBER_NOT_FOUND': '成员不存在。',
  'err.TOKEN_NOT_FOUND': 'API 令牌不存在。',
  'err.ROOM_NOT_FOUND': '房间不存在,可能已经关闭。',
  'err.PARTICIPANT_NOT_FOUND': '该成员已不在房间中。',
  'err.CALLBACK_NOT_FOUND': '回调事件不存在。',
  'err.CALLBACK_URL_NOT_SET': '请先在功能配置中设置回调地址。',
  'err.WORKSPACE_EXISTS': '已存在相同 ID 的工作空间。',
  'err.APP_EXISTS': '此工作空间中已存在相同 ID 的应用。',
  'err.APP_NOT_EMPTY': '请先删除此应用下的所有通话应用。',
  'err.MEMBER_EXISTS': '该用户已是此工作空间的成员。',
  'err.LAST_OWNER': '工作空间至少需要保留一名所有者。',
  'err.VERSION_CONFLICT': '其他人已在此期间保存了修改,请重新加载查看后再编辑。',
  'err.KEY_NOT_RETIRING': '只有处于宽限期的密钥才能停用。',
  'err.CREDENTIAL_MALFORMED': '凭证缺少字段,或字段类型不正确。',
  'err.CREDENTIAL_UID_INVALID': 'uid 须为 1 到 128 个字母、数字或下划线。',
  'err.CREDENTIAL_EXPIRED': '凭证已过期(expireTime 早于当前时间)。',
  'err.CREDENTIAL_BIZNAME_UNKNOWN': '没有通话应用使用此 bizName。',
  'err.CREDENTIAL_SCOPE_MISMATCH': 'appId 或 workspaceId 与此 bizName 所属的通话应用不匹配。',
  'err.CREDENTIAL_SIGNATURE_INVALID': '签名无法通过此通话应用密钥的验证。',
  'err.CREDENTIAL_KEY_RETIRED': '凭证使用了已轮换停用的密钥签名,请使用当前密钥签名。',
  'err.LOGIN_RATE_LIMITED': '登录失败次数过多,请稍后再试。',
  'err.PAYLOAD_TOO_LARGE': '请求内容过大。',
  'err.NOT_READY': '服务器正在启动,请稍后重试。',
  'err.INTERNAL': '服务器内部错误。',
};

// Compile-time checks: every error code, field reason and audit action has a message.
type MissingKeys<K extends string> = Exclude<K, MessageKey>;
const everyErrorHasAMessage: MissingKeys<`err.${ErrorCode}`> extends never ? true : never = true;
const everyReasonHasAMessage: MissingKeys<`reason.${FieldReason}`> extends never ? true : never = true;
const everyActionHasALabel: MissingKeys<`audit.action.${AuditAction}`> extends never ? true : never = true;
void [everyErrorHasAMessage, everyReasonHasAMessage, everyActionHasALabel];

export type Lang = 'en' | 'zh';
export const dictionaries: Record<Lang, Record<MessageKey, string>> = { en, zh };
export type Vars = Record<string, string | number>;
export type Translate = (key: MessageKey, vars?: Vars) => string;

export function isMessageKey(key: string): key is MessageKey {
  return Object.hasOwn(en, key);
}

export function translate(lang: Lang, key: MessageKey, vars?: Vars): string {
  const text = dictionaries[lang][key];
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name: string) =>
    Object.hasOwn(vars, name) ? String(vars[name]) : whole,
  );
}

const storageKey = 'parley.lang';

export function detectLang(): Lang {
  try {
    const stored = localStorage.getItem(storageKey);
    if (stored === 'en' || stored === 'zh') return stored;
  } catch {
    // storage unavailable (private mode): fall back to the browser's language
  }
  return navigator.language.toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

interface I18nValue {
  lang: Lang;
  setLang: (lang: Lang) => void;
  t: Translate;
}

const I18nContext = createContext<I18nValue | null>(null);

function applyLang(lang: Lang): void {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  dayjs.locale(lang === 'zh' ? 'zh-cn' : 'en');
}

export function I18nProvider({ children }: { children: ReactNode }): ReactNode {
  const [lang, setLangState] = useState<Lang>(() => {
    const initial = detectLang();
    applyLang(initial);
    return initial;
  });
  useEffect(() => applyLang(lang), [lang]);
  const setLang = useCallback((next: Lang) => {
    try {
      localStorage.setItem(storageKey, next);
    } catch {
      // not persisted; still switch for this page
    }
    setLangState(next);
  }, []);
  const value = useMemo<I18nValue>(
    () => ({ lang, setLang, t: (key, vars) => translate(lang, key, vars) }),
    [lang, setLang],
  );
  return createElement(I18nContext.Provider, { value }, children);
}

export function useI18n(): I18nValue {
  const value = useContext(I18nContext);
  if (!value) throw new Error('useI18n outside I18nProvider');
  return value;
}

/** The `t(key, vars?)` of the current language. */
export function useT(): Translate {
  return useI18n().t;
}
