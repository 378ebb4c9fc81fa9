import { sql, type RawBuilder } from 'kysely';

/**
 * Case-insensitive "contains" that behaves the same on SQLite and PostgreSQL: both lower-case,
 * wildcards in the user's text are escaped, and the escape character is named explicitly
 * because SQLite has none by default.
 */
export function containsIgnoreCase(column: string, text: string): RawBuilder<boolean> {
  const pattern = `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  return sql<boolean>`lower(${sql.ref(column)}) like ${pattern} escape '\\'`;
}
