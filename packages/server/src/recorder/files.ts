/** Files of the recorder child's work directory. */
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';

/** A file's size; 0 when it is not there. */
export async function fileSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

/** Removes a directory's entries except one. */
export async function removeAllBut(dir: string, keep: string): Promise<void> {
  let names: string[] = [];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (name !== keep)
      await rm(path.join(dir, name), { recursive: true, force: true }).catch(() => undefined);
  }
}
