// SQL for the security settings (one JSON value per key).
import type { Executor } from '../../platform/db/database.ts';

export function createSecurityRepository() {
  return {
    all(db: Executor) {
      return db.selectFrom('security_settings').select(['key', 'value']).execute();
    },
    upsert(db: Executor, key: string, value: unknown, userId: string | null) {
      return db
        .insertInto('security_settings')
        .values({ key, value: JSON.stringify(value), updated_by: userId })
        .onConflict((oc) =>
          oc.column('key').doUpdateSet({
            value: JSON.stringify(value),
            updated_by: userId,
            updated_at: new Date(),
          }),
        )
        .execute();
    },
  };
}

export type SecurityRepository = ReturnType<typeof createSecurityRepository>;
