/**
 * The data directory holds the SQLite database (sessions, API token hashes, audit log) and the
 * master key that decrypts every call application's private key: no other user of the machine
 * may read it. Directories are made 0700 and files 0600; a data directory an older Parley left
 * 0755/0644 is tightened at start (and the server logs what it changed).
 */
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';

/** Creates `dir` and its missing parents with mode 0700; an existing directory keeps its mode. */
export function makePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/** Files of the data directory that only the server may read. */
export const privateFiles = ['parley.db', 'parley.db-wal', 'parley.db-shm', 'master.key'] as const;

export interface ModeChange {
  path: string;
  /** Octal modes, e.g. "755" → "700". */
  from: string;
  to: string;
  /** Set when the change failed (e.g. EPERM: the path belongs to another user). */
  error?: string;
}

/**
 * Takes group and other permissions away from the data directory, its database and key files,
 * and the recordings directory when it lies inside the data directory (one set elsewhere is the
 * operator's to arrange). Missing paths are skipped. Returns what was (or could not be) changed.
 */
export function tightenDataDir(dataDir: string, recordingsDir: string): ModeChange[] {
  const changes: ModeChange[] = [];
  const tighten = (p: string) => {
    let mode: number;
    try {
      mode = statSync(p).mode & 0o777;
    } catch {
      return; // not there (yet)
    }
    if ((mode & 0o077) === 0) return;
    const change: ModeChange = { path: p, from: mode.toString(8), to: (mode & 0o700).toString(8) };
    try {
      chmodSync(p, mode & 0o700);
    } catch (err) {
      change.error = (err as NodeJS.ErrnoException).code ?? String(err);
    }
    changes.push(change);
  };
  tighten(dataDir);
  for (const file of privateFiles) tighten(path.join(dataDir, file));
  const relative = path.relative(dataDir, recordingsDir);
  if (relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative)) tighten(recordingsDir);
  return changes;
}
