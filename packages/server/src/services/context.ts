import type { Role } from '@parley/protocol';
import type { Db } from '../store/schema.js';
import type { KeyVault } from '../security/keys.js';

/** Who is acting: a console user through a session, or an API token. */
export interface Actor {
  userId: string;
  /** What the audit log shows: the user's email, or `token:<name> (<email>)`. */
  label: string;
  via: 'session' | 'token';
  /** For tokens: the workspace the token belongs to and the role it was given. */
  token?: { tokenId: string; workspaceId: string; role: Role };
}

export interface ServiceContext {
  db: Db;
  vault: KeyVault;
  now: () => number;
  keyRotationGraceHours: number;
}
