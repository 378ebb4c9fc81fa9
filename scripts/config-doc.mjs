// Renders the settings reference of docs/configuration.md from the server's configReference().
// Shared by scripts/write-config-doc.mjs (which writes it) and the test that checks the file
// is what this would write.
import { format, resolveConfig } from 'prettier';

export const configDocFile = new URL('../docs/configuration.md', import.meta.url);
export const startMarker = '<!-- settings:start -->';
export const endMarker = '<!-- settings:end -->';

/** How a default reads in the reference: the value as written in a config file, or a word. */
function shownDefault(value) {
  if (value === '') return 'empty';
  if (Array.isArray(value))
    return value.length === 0 ? 'none' : `\`${JSON.stringify(value).replace(/,/g, ', ')}\``;
  return `\`${typeof value === 'string' ? value : JSON.stringify(value)}\``;
}

function renderSetting(s) {
  const facts = [
    s.env ? `- environment: \`${s.env}\`` : null,
    s.flag ? `- flag: \`--${s.flag}\`` : null,
    `- default: ${shownDefault(s.default)}`,
    `- accepts: ${s.accepts}`,
    s.secret ? '- secret: configuration errors show `(hidden)` instead of the value' : null,
  ].filter(Boolean);
  return [`### \`${s.key}\``, s.doc, facts.join('\n')].join('\n\n');
}

/** The text between the markers, one section per setting in the order of the settings list. */
export function renderSettings(reference) {
  const note =
    '<!-- Generated from the `doc` of each setting in packages/server/src/config/settings.ts by `npm run docs:config`: edit them there. -->';
  return [note, ...reference.map(renderSetting)].join('\n\n');
}

/** The whole document with its marked section replaced, formatted as Prettier would. */
export async function renderConfigDoc(doc, reference) {
  const start = doc.indexOf(startMarker);
  const end = doc.indexOf(endMarker);
  if (start < 0 || end < start) {
    throw new Error(`docs/configuration.md must hold ${startMarker} followed by ${endMarker}`);
  }
  const text = `${doc.slice(0, start + startMarker.length)}\n\n${renderSettings(reference)}\n\n${doc.slice(end)}`;
  const filepath = configDocFile.pathname;
  return format(text, { ...(await resolveConfig(filepath)), filepath });
}
