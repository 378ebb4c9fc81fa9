import type { Role } from '@parley/protocol';
import type { Db } from '../store/schema.js';
import type { KeyVault } from '../security/keys.js';

/** Who is acting: a console user through a session, or an API token. */
export interface Actor {
  userId: string;
  /** What the audit log shows: the user's email, or `token:<name> (<email>)`. */
  label: string;
  via: 'session' | 'token';
  /**
   * For tokens: the workspace the token belongs to, the role it was given and when it expires
   * (a token it creates can have neither more nor longer).
   */
  token?: { tokenId: string; workspaceId: string; role: Role; expiresAt: number | null };
}

export interface ServiceContext {
  db: Db;
  vault: KeyVault;
  now: () => number;
  keyRotationGraceHours: number;
}
