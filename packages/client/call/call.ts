/**
 * The Parley call page (served at /call/). Takes a credential from `#credential=<base64url
 * JSON>`, from `?credentialUrl=<url>` (fetched with the user's cookies), or pasted; offers
 * "Create room" / "Join room" (`?room=<id>` pre-fills it); shows local and remote video.
 */
import {
  ParleyClient,
  ParleyError,
  type Credential,
  type RemoteParticipant,
  type Room,
  type TrackInfo,
} from '../src/index.js';

const el = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const found = document.getElementById(id);
  if (!found) throw new Error(`missing #${id}`);
  return found as T;
};

const ui = {
  who: el('who'),
  status: el('status'),
  error: el('error'),
  lobby: el('lobby'),
  credentialBox: el('credential-box'),
  credentialInput: el<HTMLTextAreaElement>('credential-input'),
  createRoom: el<HTMLButtonElement>('create-room'),
  joinForm: el<HTMLFormElement>('join-form'),
  joinInput: el<HTMLInputElement>('join-room-input'),
  joinRoom: el<HTMLButtonElement>('join-room'),
  call: el('call'),
  roomId: el('room-id'),
  copyLink: el<HTMLButtonElement>('copy-link'),
  shareLink: el<HTMLAnchorElement>('share-link'),
  tiles: el('tiles'),
  localVideo: el<HTMLVideoElement>('local-video'),
  localLabel: el('local-label'),
  muteAudio: el<HTMLButtonElement>('mute-audio'),
  muteVideo: el<HTMLButtonElement>('mute-video'),
  leave: el<HTMLButtonElement>('leave'),
};

/** What each failure means for the person in front of the page. */
const messages: Record<string, string> = {
  CREDENTIAL_MISSING:
    'No credential. Open this page with #credential=… or ?credentialUrl=…, or paste the JSON credential your business server signed.',
  CREDENTIAL_UNAVAILABLE: 'Could not get a credential from the credential URL.',
  CREDENTIAL_MALFORMED: 'The credential is missing a field or a field has the wrong type.',
  CREDENTIAL_EXPIRED: 'The credential has expired. Get a new one from your app and open the call again.',
  CREDENTIAL_SIGNATURE_INVALID:
    "The credential's signature does not verify with the call application's key (it must sign bizName+appId+workspaceId+uid+expireTime).",
  CREDENTIAL_BIZNAME_UNKNOWN: 'No call application on this server has the bizName of this credential.',
  CREDENTIAL_SCOPE_MISMATCH:
    'The appId or workspaceId of the credential does not match the call application of its bizName.',
  CREDENTIAL_UID_INVALID: 'The uid of the credential must be 1 to 128 letters, digits or underscores.',
  CREDENTIAL_KEY_RETIRED:
    'The credential was signed with a key that has been rotated out. Sign with the current key.',
  ROOM_NOT_FOUND: 'There is no room with this id for your call application.',
  ROOM_FULL: 'The room is full.',
  ROOM_CLOSED: 'The room has been closed.',
  ALREADY_IN_ROOM: 'You are already in a room.',
  ICE_FAILED:
    'The media connection failed: audio/video cannot reach the media server. Check that UDP is allowed by your network or firewall.',
  MEDIA_DEVICE_FAILED: 'Could not open your camera or microphone.',
  MEDIA_ADDRESS_DENIED:
    "The media server refused your media: it did not come through this call application's media proxy.",
  CONNECTION_FAILED: 'Cannot reach the Parley server.',
  CONNECT_TIMEOUT: 'The Parley server did not answer in time.',
  CONNECTION_LOST: 'The connection to the Parley server was lost.',
  RESUME_FAILED: 'The connection was lost for too long; the call has ended for you.',
  SESSION_REPLACED: 'You joined from another tab or device; this page has left the call.',
  REMOVED: 'You were removed from the room.',
  SERVER_SHUTTING_DOWN: 'The Parley server is restarting.',
  RATE_LIMITED: 'Too many messages; slow down.',
  REQUEST_TIMEOUT: 'The Parley server did not answer in time.',
  UNSUPPORTED: 'This browser cannot make calls (no WebRTC).',
};

interface ErrorLike {
  code: string;
  message: string;
  field?: string | undefined;
}

function showError(err: unknown): void {
  const e: ErrorLike =
    err instanceof ParleyError
      ? err
      : { code: 'ERROR', message: err instanceof Error ? err.message : String(err) };
  const friendly = messages[e.code];
  ui.error.hidden = false;
  ui.error.dataset['code'] = e.code;
  ui.error.textContent =
    `${friendly ?? e.message} [${e.code}${e.field ? `, field: ${e.field}` : ''}]` +
    (friendly && e.message && e.message !== friendly ? `\n${e.message}` : '');
}

function clearError(code?: string): void {
  if (code && ui.error.dataset['code'] !== code) return;
  ui.error.hidden = true;
  ui.error.textContent = '';
  delete ui.error.dataset['code'];
}

function setStatus(state: string, text: string): void {
  ui.status.dataset['state'] = state;
  ui.status.textContent = text;
}

// --- credential ----------------------------------------------------------------------------

const storageKey = 'parley.call.credential';
const params = new URLSearchParams(location.search);
const credentialUrl = params.get('credentialUrl');

function decodeBase64Url(text: string): string {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}

function parseCredential(json: string): Credential {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new ParleyError('CREDENTIAL_MALFORMED', 'The credential is not valid JSON.');
  }
  if (value && typeof value === 'object' && 'credential' in value) value = value.credential;
  if (!value || typeof value !== 'object') {
    throw new ParleyError('CREDENTIAL_MALFORMED', 'The credential must be a JSON object.');
  }
  return value as Credential;
}

/** From the URL fragment (then removed from the address bar, kept for reloads of this tab). */
function credentialFromFragment(): Credential | null {
  const hash = new URLSearchParams(location.hash.slice(1));
  const encoded = hash.get('credential');
  if (encoded) {
    const json = decodeBase64Url(encoded);
    const credential = parseCredential(json);
    sessionStorage.setItem(storageKey, json);
    history.replaceState(null, '', location.pathname + location.search);
    return credential;
  }
  const stored = sessionStorage.getItem(storageKey);
  return stored ? parseCredential(stored) : null;
}

/** The customer's endpoint, fetched with the user's cookies on every (re)connect. */
async function fetchCredential(url: string): Promise<Credential> {
  const res = await fetch(url, { credentials: 'include', headers: { accept: 'application/json' } });
  if (!res.ok) throw new ParleyError('CREDENTIAL_UNAVAILABLE', `${url} answered HTTP ${res.status}.`);
  return parseCredential(await res.text());
}

// --- state ---------------------------------------------------------------------------------

let client: ParleyClient | null = null;
let room: Room | null = null;
let leaving = false;
const tiles = new Map<string, { figure: HTMLElement; video: HTMLVideoElement; state: HTMLElement }>();

/** Room events in order, e.g. `joined:bob`, `left:bob:left`, `reconnecting`; for tests and debugging. */
const events: string[] = [];

/** For tests and debugging from the devtools console: `parleyCall.room.getStats()`. */
(window as unknown as { parleyCall: unknown }).parleyCall = {
  get client() {
    return client;
  },
  get room() {
    return room;
  },
  events,
};

function baseUrl(): string {
  // The page lives at <base>/call/; the SDK derives <base>/signal/v1 from <base>.
  return new URL('..', location.href).toString();
}

function makeClient(credential: Credential | (() => Promise<Credential>)): ParleyClient {
  const c = new ParleyClient({ url: baseUrl(), credential });
  c.on('reconnecting', () => setStatus('reconnecting', 'Connection lost, reconnecting…'));
  c.on('reconnected', () => {
    setStatus(room ? 'in-room' : 'connected', room ? `In room ${room.roomId}` : 'Connected');
    clearError('CONNECTION_LOST');
  });
  c.on('disconnected', (err) => {
    showError(err);
    setStatus('disconnected', 'Disconnected');
    client = null;
    setLobbyEnabled(true);
  });
  c.on('error', (err) => {
    events.push(`client-error:${err.code}:${err.message}`);
    // A candidate for a connection that was just replaced: harmless, nothing to tell the user.
    if (err.code !== 'TRANSPORT_NOT_FOUND') showError(err);
  });
  return c;
}

async function ensureClient(): Promise<ParleyClient> {
  if (client && client.state !== 'closed') {
    await client.connect();
    return client;
  }
  let credential: Credential | (() => Promise<Credential>);
  if (credentialUrl) credential = () => fetchCredential(credentialUrl);
  else {
    const fromPage = pastedOrStored();
    if (!fromPage) throw new ParleyError('CREDENTIAL_MISSING', messages['CREDENTIAL_MISSING']!);
    credential = fromPage;
  }
  client = makeClient(credential);
  setStatus('connecting', 'Connecting…');
  try {
    const welcome = await client.connect();
    ui.who.textContent = `${welcome.uid} · ${welcome.bizName}`;
    ui.localLabel.textContent = `You (${welcome.uid})`;
    setStatus('connected', 'Connected');
    return client;
  } catch (err) {
    client.close();
    client = null;
    setStatus('error', 'Not connected');
    throw err;
  }
}

let fragmentCredential: Credential | null = null;
function pastedOrStored(): Credential | null {
  const pasted = ui.credentialInput.value.trim();
  if (pasted) return parseCredential(pasted);
  return fragmentCredential;
}

function setLobbyEnabled(enabled: boolean): void {
  ui.createRoom.disabled = !enabled;
  ui.joinRoom.disabled = !enabled;
  ui.joinInput.disabled = !enabled;
}

// --- room ----------------------------------------------------------------------------------

async function enter(action: () => Promise<Room>, label: string): Promise<void> {
  clearError();
  setLobbyEnabled(false);
  setStatus('joining', label);
  try {
    await ensureClient();
    const joined = await action();
    showRoom(joined);
  } catch (err) {
    showError(err);
    if (!client) setStatus('error', 'Not connected');
    else setStatus('connected', 'Connected');
    setLobbyEnabled(true);
    return;
  }
  const current = room;
  if (!current) return;
  try {
    ui.localVideo.srcObject = await current.publish({ audio: true, video: true });
  } catch (err) {
    if (room === current) showError(err);
  }
}

function showRoom(r: Room): void {
  room = r;
  leaving = false;
  ui.lobby.hidden = true;
  ui.call.hidden = false;
  ui.roomId.textContent = r.roomId;
  const share = new URL(location.pathname, location.origin);
  share.searchParams.set('room', r.roomId);
  if (credentialUrl) share.searchParams.set('credentialUrl', credentialUrl);
  ui.shareLink.href = share.toString();
  ui.shareLink.textContent = share.toString();
  history.replaceState(null, '', share.pathname + share.search);
  setStatus('in-room', `In room ${r.roomId}`);
  updateMuteButtons();

  events.push(`entered:${r.roomId}`);
  for (const p of r.participants) addTile(p);
  r.on('participantJoined', (p) => {
    events.push(`joined:${p.uid}`);
    addTile(p);
  });
  r.on('participantLeft', (p, reason) => {
    events.push(`left:${p.uid}:${reason}`);
    removeTile(p.participantId);
  });
  r.on('trackSubscribed', (p, _track, stream) => {
    const tile = addTile(p);
    if (tile.video.srcObject !== stream) tile.video.srcObject = stream;
    void tile.video.play().catch(() => undefined);
  });
  r.on('trackUnsubscribed', (p, _track, stream) => {
    const tile = tiles.get(p.participantId);
    if (tile && stream.getTracks().length === 0) tile.video.srcObject = null;
  });
  r.on('tracksChanged', (p, tracks) => updateTileState(p.participantId, tracks));
  r.on('reconnecting', () => {
    events.push('reconnecting');
    setStatus('reconnecting', 'Connection lost, reconnecting…');
  });
  r.on('reconnected', () => {
    events.push('reconnected');
    setStatus('in-room', `In room ${r.roomId}`);
  });
  r.on('error', (err) => {
    events.push(`error:${err.code}:${err.message}`);
    showError(err);
  });
  r.on('mediaStateChanged', (change) => {
    if (change.state === 'connected') clearError('ICE_FAILED');
  });
  r.on('closed', (reason) => {
    events.push(`closed:${reason}`);
    if (room !== r) return;
    room = null;
    backToLobby();
    if (!leaving && reason !== 'left' && reason !== 'disconnected') {
      showError(new ParleyError('ROOM_CLOSED', `The room was closed (${reason}).`));
    }
    setStatus(client ? 'connected' : 'disconnected', leaving ? 'Left the room' : 'The room has ended');
  });
}

function backToLobby(): void {
  for (const id of [...tiles.keys()]) removeTile(id);
  ui.localVideo.srcObject = null;
  ui.call.hidden = true;
  ui.lobby.hidden = false;
  setLobbyEnabled(true);
}

function addTile(p: RemoteParticipant): { figure: HTMLElement; video: HTMLVideoElement; state: HTMLElement } {
  const existing = tiles.get(p.participantId);
  if (existing) return existing;
  const figure = document.createElement('figure');
  figure.className = 'tile';
  figure.dataset['participantId'] = p.participantId;
  figure.dataset['testid'] = `tile-${p.uid}`;
  const video = document.createElement('video');
  video.autoplay = true;
  video.playsInline = true;
  video.dataset['testid'] = `remote-video-${p.uid}`;
  const caption = document.createElement('figcaption');
  caption.textContent = p.uid;
  const state = document.createElement('span');
  state.className = 'state';
  caption.append(state);
  figure.append(video, caption);
  ui.tiles.append(figure);
  const tile = { figure, video, state };
  tiles.set(p.participantId, tile);
  updateTileState(p.participantId, p.tracks);
  return tile;
}

function updateTileState(participantId: string, tracks: TrackInfo[]): void {
  const tile = tiles.get(participantId);
  if (!tile) return;
  const audio = tracks.find((t) => t.kind === 'audio');
  const video = tracks.find((t) => t.kind === 'video');
  const notes: string[] = [];
  if (!audio) notes.push('no mic');
  else if (audio.muted) notes.push('muted');
  if (!video) notes.push('no camera');
  else if (video.muted) notes.push('camera off');
  tile.state.textContent = notes.length ? ` · ${notes.join(', ')}` : '';
  tile.figure.dataset['audio'] = audio ? (audio.muted ? 'muted' : 'on') : 'none';
  tile.figure.dataset['video'] = video ? (video.muted ? 'muted' : 'on') : 'none';
}

function removeTile(participantId: string): void {
  const tile = tiles.get(participantId);
  if (!tile) return;
  tile.video.srcObject = null;
  tile.figure.remove();
  tiles.delete(participantId);
}

function updateMuteButtons(): void {
  const audioMuted = room?.isMuted('audio') ?? false;
  const videoMuted = room?.isMuted('video') ?? false;
  ui.muteAudio.setAttribute('aria-pressed', String(audioMuted));
  ui.muteAudio.textContent = audioMuted ? 'Unmute mic' : 'Mute mic';
  ui.muteVideo.setAttribute('aria-pressed', String(videoMuted));
  ui.muteVideo.textContent = videoMuted ? 'Start camera' : 'Stop camera';
}

async function toggleMute(kind: 'audio' | 'video'): Promise<void> {
  const r = room;
  if (!r) return;
  const button = kind === 'audio' ? ui.muteAudio : ui.muteVideo;
  button.disabled = true;
  try {
    await r.setMuted(kind, !r.isMuted(kind));
  } catch (err) {
    showError(err);
  } finally {
    button.disabled = false;
    updateMuteButtons();
  }
}

// --- wiring --------------------------------------------------------------------------------

ui.createRoom.addEventListener('click', () => {
  void enter(async () => (await ensureClient()).createRoom(), 'Creating a room…');
});
ui.joinForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const roomId = ui.joinInput.value.trim();
  if (!roomId) {
    ui.joinInput.focus();
    return;
  }
  void enter(async () => (await ensureClient()).joinRoom(roomId), `Joining room ${roomId}…`);
});
ui.muteAudio.addEventListener('click', () => void toggleMute('audio'));
ui.muteVideo.addEventListener('click', () => void toggleMute('video'));
ui.leave.addEventListener('click', () => {
  const r = room;
  if (!r) return;
  leaving = true;
  ui.leave.disabled = true;
  r.leave()
    .catch((err: unknown) => showError(err))
    .finally(() => {
      ui.leave.disabled = false;
      history.replaceState(
        null,
        '',
        location.pathname + (credentialUrl ? `?credentialUrl=${encodeURIComponent(credentialUrl)}` : ''),
      );
    });
});
ui.copyLink.addEventListener('click', () => {
  const link = ui.shareLink.href;
  navigator.clipboard?.writeText(link).then(
    () => {
      ui.copyLink.textContent = 'Copied';
      setTimeout(() => (ui.copyLink.textContent = 'Copy link'), 1500);
    },
    () => window.prompt('Copy this link', link),
  );
});
window.addEventListener('pagehide', () => client?.close());

function start(): void {
  ui.lobby.hidden = false;
  const roomParam = params.get('room');
  if (roomParam) ui.joinInput.value = roomParam;
  try {
    fragmentCredential = credentialFromFragment();
  } catch (err) {
    showError(err instanceof ParleyError ? err : new ParleyError('CREDENTIAL_MALFORMED', String(err)));
  }
  if (!credentialUrl && !fragmentCredential) {
    ui.credentialBox.hidden = false;
    setStatus('idle', 'Paste a credential to start');
    return;
  }
  // Present the credential at once, so a bad one is reported before anyone clicks.
  setLobbyEnabled(false);
  ensureClient()
    .then(() => {
      setLobbyEnabled(true);
      // `?room=<id>&join=1`: join at once (the console's "join" opens the page this way).
      if (roomParam && params.get('join') === '1') ui.joinForm.requestSubmit();
    })
    .catch((err: unknown) => {
      showError(err);
      setLobbyEnabled(true);
    });
}

start();
