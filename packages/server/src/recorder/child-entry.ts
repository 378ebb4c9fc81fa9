/** Where the recorder child's entry is, to fork it (recording.ts, recover-recording.ts). */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The child's entry: process.js next to this file (process.ts when running from source under tsx). */
export function childEntry(): { file: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  const ts = here.endsWith('.ts');
  const file = path.join(path.dirname(here), ts ? 'process.ts' : 'process.js');
  return { file, execArgv: ts ? ['--import', 'tsx'] : [] };
}
