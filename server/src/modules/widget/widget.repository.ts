// Widget settings live in the channel's `settings` jsonb under the key "widget".
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Executor } from '../../platform/db/database.ts';

export function createWidgetRepository() {
  return {
    findChannel(db: Executor, id: string) {
      return db
        .selectFrom('channels')
        .select(['id', 'type', 'name', 'settings'])
        .where('id', '=', id)
        .executeTakeFirst();
    },
    findChannelForUpdate(db: Executor, id: string) {
      return db
        .selectFrom('channels')
        .select(['id', 'type', 'name', 'settings'])
        .where('id', '=', id)
        .forUpdate()
        .executeTakeFirst();
    },
    defaultWebChannel(db: Executor) {
      return db
        .selectFrom('channels')
        .select(['id', 'type', 'name', 'settings'])
        .where('type', '=', 'web_widget')
        .orderBy('created_at')
        .limit(1)
        .executeTakeFirst();
    },
    /** A new web-widget channel with its own identity-verification secret. */
    insertWebChannel(db: Executor, name: string, widget: Record<string, unknown>) {
      return db
        .insertInto('channels')
        .values({
          type: 'web_widget',
          name,
          identity_secret: randomBytes(32).toString('hex'),
          settings: JSON.stringify({ widget }),
        })
        .returning(['id', 'type', 'name', 'settings'])
        .executeTakeFirstOrThrow();
    },
    /** Web-widget channels with their default team (routing reads and sets it). */
    listWebChannels(db: Executor) {
      return db
        .selectFrom('channels')
        .select(['id', 'name', 'default_team_id'])
        .where('type', '=', 'web_widget')
        .orderBy('created_at')
        .execute();
    },
    setDefaultTeam(db: Executor, id: string, teamId: string | null) {
      return db
        .updateTable('channels')
        .set({ default_team_id: teamId, updated_at: sql<Date>`now()` })
        .where('id', '=', id)
        .where('type', '=', 'web_widget')
        .returning(['id', 'name', 'default_team_id'])
        .executeTakeFirst();
    },
    saveWidgetSettings(db: Executor, id: string, widget: Record<string, unknown>) {
      return db
        .updateTable('channels')
        .set({
          settings: sql`jsonb_set(settings, '{widget}', ${JSON.stringify(widget)}::jsonb)`,
          updated_at: sql<Date>`now()`,
        })
        .where('id', '=', id)
        .execute();
    },
  };
}

export type WidgetRepository = ReturnType<typeof createWidgetRepository>;
