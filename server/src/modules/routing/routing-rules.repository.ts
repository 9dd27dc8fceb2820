// Routing rules (migrations/0026): rows of routing_rules, ordered per channel by position, and
// the visitor context the widget reported per conversation (routing_visitor_context).
import { sql } from 'kysely';
import type { Executor } from '../../platform/db/database.ts';

const ruleColumns = [
  'id',
  'channel_id',
  'position',
  'name',
  'enabled',
  'conditions',
  'team_id',
  'priority',
  'preferred_agent_id',
  'created_at',
  'updated_at',
] as const;

export interface RuleValues {
  name: string;
  enabled: boolean;
  conditions: unknown[];
  team_id: string;
  priority: string;
  preferred_agent_id: string | null;
}

export function createRoutingRulesRepository() {
  return {
    /** Every rule of every channel (or one channel), in evaluation order. */
    listRules(db: Executor, channelId?: string) {
      let q = db.selectFrom('routing_rules').select(ruleColumns);
      if (channelId) q = q.where('channel_id', '=', channelId);
      return q.orderBy('channel_id').orderBy('position').orderBy('created_at').execute();
    },
    findRule(db: Executor, id: string) {
      return db.selectFrom('routing_rules').select(ruleColumns).where('id', '=', id).executeTakeFirst();
    },
    /**
     * Serialises writers of one channel's rule list (positions are read, then written): a
     * transaction-scoped advisory lock on the channel id.
     */
    async lockChannel(db: Executor, channelId: string) {
      await sql`select pg_advisory_xact_lock(hashtextextended(${'routing_rules:' + channelId}, 0))`.execute(
        db,
      );
    },
    async nextPosition(db: Executor, channelId: string): Promise<number> {
      const row = await db
        .selectFrom('routing_rules')
        .select(sql<number>`coalesce(max(position), 0) + 1`.as('next'))
        .where('channel_id', '=', channelId)
        .executeTakeFirstOrThrow();
      return Number(row.next);
    },
    insertRule(db: Executor, channelId: string, position: number, v: RuleValues) {
      return db
        .insertInto('routing_rules')
        .values({ ...v, channel_id: channelId, position, conditions: JSON.stringify(v.conditions) })
        .returning(ruleColumns)
        .executeTakeFirstOrThrow();
    },
    updateRule(db: Executor, id: string, v: RuleValues) {
      return db
        .updateTable('routing_rules')
        .set({ ...v, conditions: JSON.stringify(v.conditions), updated_at: sql<Date>`now()` })
        .where('id', '=', id)
        .returning(ruleColumns)
        .executeTakeFirstOrThrow();
    },
    deleteRule(db: Executor, id: string) {
      return db.deleteFrom('routing_rules').where('id', '=', id).returning(['id', 'name']).executeTakeFirst();
    },
    async setPositions(db: Executor, ruleIds: readonly string[]) {
      for (const [i, id] of ruleIds.entries()) {
        await db
          .updateTable('routing_rules')
          .set({ position: i + 1, updated_at: sql<Date>`now()` })
          .where('id', '=', id)
          .execute();
      }
    },
    /** Rules that send conversations to the team (the teams module's delete check). */
    rulesOfTeam(db: Executor, teamId: string) {
      return db
        .selectFrom('routing_rules')
        .select(['id', 'name', 'channel_id'])
        .where('team_id', '=', teamId)
        .orderBy('channel_id')
        .orderBy('position')
        .execute();
    },

    insertVisitorContext(db: Executor, conversationId: string, language: string | null) {
      return db
        .insertInto('routing_visitor_context')
        .values({ conversation_id: conversationId, language })
        .onConflict((oc) => oc.column('conversation_id').doNothing())
        .execute();
    },
    languageOf(db: Executor, conversationId: string) {
      return db
        .selectFrom('routing_visitor_context')
        .select('language')
        .where('conversation_id', '=', conversationId)
        .executeTakeFirst();
    },
  };
}

export type RoutingRulesRepository = ReturnType<typeof createRoutingRulesRepository>;
