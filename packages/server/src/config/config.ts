/**
 * Server configuration: defaults < config file (JSON) < environment < command-line flags.
 * Validated once at start; the result is frozen. A bad value stops the server with a
 * message naming the setting and where it came from.
 *
 * This module is the loader; the settings themselves are in ./settings.ts, their value parsers
 * in ./value-parsers.ts and the rules between settings in ./cross-setting-checks.ts.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ParleyConfig } from './config-types.js';
import { crossSettingProblems } from './cross-setting-checks.js';
import { hiddenSettings, settings } from './settings.js';

export type { IceServer, LogLevel, ParleyConfig } from './config-types.js';
export { configReference, type SettingReference } from './reference.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Raw = { value: unknown; source: string };

export const configFlags = settings.filter((s) => s.flag).map((s) => s.flag as string);

export interface ConfigSources {
  flags?: Record<string, string | undefined>;
  env?: NodeJS.ProcessEnv;
  /** Overrides for embedding and tests, applied last. */
  overrides?: Partial<Omit<ParleyConfig, 'configFile'>>;
}

/** The settings of a JSON config file; throws ConfigError when it is unreadable, not an object or names an unknown setting. */
function readConfigFile(configFile: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(configFile, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `config file ${configFile}: cannot be read (${(err as NodeJS.ErrnoException).code})`,
    );
  }
  let fileValues: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not an object');
    fileValues = parsed as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(`config file ${configFile}: is not a JSON object (${(err as Error).message})`);
  }
  const known = new Set(settings.map((s) => s.key as string));
  for (const k of Object.keys(fileValues)) {
    if (!known.has(k)) throw new ConfigError(`config file ${configFile}: unknown setting "${k}"`);
  }
  return fileValues;
}

/** Loads and validates the configuration; throws ConfigError naming every bad setting. */
export function loadConfig(sources: ConfigSources = {}): ParleyConfig {
  const env = sources.env ?? {};
  const flags = sources.flags ?? {};
  const configFile = flags['config'] ?? env['PARLEY_CONFIG'] ?? '';
  const fileValues = configFile === '' ? {} : readConfigFile(configFile);

  const out: Record<string, unknown> = { configFile };
  const problems: string[] = [];
  for (const s of settings) {
    let raw: Raw | null = null;
    if (s.key in fileValues) raw = { value: fileValues[s.key], source: `file ${configFile}` };
    if (s.env && env[s.env] !== undefined && env[s.env] !== '') raw = { value: env[s.env], source: s.env };
    if (s.flag && flags[s.flag] !== undefined) raw = { value: flags[s.flag], source: `--${s.flag}` };
    const override = sources.overrides?.[s.key as keyof ConfigSources['overrides'] & string];
    if (override !== undefined) raw = { value: override, source: 'override' };
    if (raw === null) {
      out[s.key] = s.default;
      continue;
    }
    const parsed = s.parse(raw.value);
    if ('error' in parsed) {
      const shown = typeof raw.value === 'string' ? JSON.stringify(raw.value) : String(raw.value);
      const what = hiddenSettings.has(s.key) ? '(hidden)' : shown;
      problems.push(`${s.key}: ${parsed.error} (got ${what} from ${raw.source})`);
    } else {
      out[s.key] = parsed.ok;
    }
  }
  problems.push(...crossSettingProblems(out));
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  out['dataDir'] = path.resolve(out['dataDir'] as string);
  out['recordingsDir'] = path.resolve(
    (out['recordingsDir'] as string) || path.join(out['dataDir'] as string, 'recordings'),
  );
  return Object.freeze(out as unknown as ParleyConfig);
}
