/** The settings as the generated configuration reference (docs/configuration.md) presents them. */
import type { ParleyConfig } from './config-types.js';
import { hiddenSettings, settings } from './settings.js';
import type { Parsed } from './value-parsers.js';

/** One setting as the configuration reference (docs/configuration.md) presents it. */
export interface SettingReference {
  key: keyof ParleyConfig;
  env: string | null;
  /** The `parley start` flag, without its dashes. */
  flag: string | null;
  default: unknown;
  /** Configuration errors show `(hidden)` instead of its value. */
  secret: boolean;
  /** What the setting takes, in the words its validation uses when it refuses a value. */
  accepts: string;
  doc: string;
}

/** Every setting, in the order of the settings list, for the generated configuration reference. */
export function configReference(): SettingReference[] {
  return settings.map((s) => ({
    key: s.key,
    env: s.env ?? null,
    flag: s.flag ?? null,
    default: s.default,
    secret: hiddenSettings.has(s.key),
    accepts: acceptedValues(s.parse),
    doc: s.doc,
  }));
}

/**
 * Asks a parser what it accepts, so the reference cannot drift from the validation. No
 * setting takes a JSON object, so every parser refuses one and says what it wants ("must be an
 * integer from 0 to 65535"). String parsers answer that with "must be a string" only; their own
 * rule shows in how they treat the empty string and a string that is no valid value of anything.
 */
function acceptedValues(parse: (raw: unknown) => Parsed<unknown>): string {
  const refusal = (raw: unknown): string | null => {
    const parsed = parse(raw);
    return 'error' in parsed ? parsed.error.replace(/^must be /, '') : null;
  };
  const byType = refusal({});
  if (byType === null) return 'see the description';
  if (byType !== 'a string') return byType;
  const empty = refusal('');
  const nonsense = refusal('\u0000');
  if (nonsense === null) return empty === null ? 'any string' : 'a non-empty string';
  return empty !== null || /\bempty\b/.test(nonsense) ? nonsense : `empty, or ${nonsense}`;
}
