import { generatePassword } from '../security/passwords.js';
import type { ServiceContext } from './context.js';
import { createUser } from './users.js';

export interface BootstrapResult {
  email: string;
  /** Set only when the password was generated here and must be shown once. */
  generatedPassword: string | null;
}

/**
 * First start: the owner account, a `default` workspace and a `default` app, so the console
 * opens straight onto an empty call-application list. Does nothing once any user exists.
 */
export async function bootstrapOwner(
  ctx: ServiceContext,
  admin: { email: string; password: string },
): Promise<BootstrapResult | null> {
  const anyUser = await ctx.db.selectFrom('users').select('id').limit(1).executeTakeFirst();
  if (anyUser) return null;
  const email = admin.email || 'admin@parley.local';
  const generatedPassword = admin.password ? null : generatePassword();
  const now = ctx.now();
  const user = await createUser(
    ctx.db,
    { email, name: 'Owner', password: admin.password || (generatedPassword as string) },
    now,
  );
  await ctx.db.transaction().execute(async (trx) => {
    await trx
      .insertInto('workspaces')
      .values({ id: 'default', name: 'Default workspace', created_at: now })
      .execute();
    await trx
      .insertInto('memberships')
      .values({ workspace_id: 'default', user_id: user.id, role: 'owner', created_at: now })
      .execute();
    await trx
      .insertInto('apps')
      .values({ workspace_id: 'default', id: 'default', name: 'Default app', created_at: now })
      .execute();
  });
  return { email: user.email, generatedPassword };
}
