// The routing engine's tables (migrations/0024): the queue, per-team settings, capacities, the
// agents' lock rows and the contacts' last agent. Queries only; the engine decides.
import { sql } from 'kysely';
import type { Executor } from '../../platform/db/database.ts';
import type { RoutingPriority } from './routing-target.ts';

export const PRIORITY_RANK: Record<RoutingPriority, number> = {
  urgent: 0,
  vip: 1,
  high: 2,
  normal: 3,
  low: 4,
};

export interface TeamRoutingSettings {
  strategy: 'least_loaded' | 'round_robin';
  defaultCapacity: number;
  firstResponseSeconds: number;
  stickyWindowMinutes: number;
  overflowTeamId: string | null;
  overflowWaitSeconds: number | null;
  overflowMaxWaiting: number | null;
}

export const DEFAULT_TEAM_SETTINGS: TeamRoutingSettings = {
  strategy: 'least_loaded',
  defaultCapacity: 5,
  firstResponseSeconds: 180,
  stickyWindowMinutes: 1440,
  overflowTeamId: null,
  overflowWaitSeconds: null,
  overflowMaxWaiting: null,
};

const queueColumns = [
  'conversation_id',
  'team_id',
  'contact_id',
  'priority',
  'priority_rank',
  'state',
  'reason',
  'preferred_agent_id',
  'excluded_agent_id',
  'waiting_since',
  'assignee_id',
  'assigned_at',
  'first_response_due',
] as const;

export function createRoutingQueueRepository() {
  return {
    async teamSettings(db: Executor, teamId: string): Promise<TeamRoutingSettings & { stored: boolean }> {
      const r = await db
        .selectFrom('routing_team_settings')
        .selectAll()
        .where('team_id', '=', teamId)
        .executeTakeFirst();
      if (!r) return { ...DEFAULT_TEAM_SETTINGS, stored: false };
      return {
        strategy: r.strategy as TeamRoutingSettings['strategy'],
        defaultCapacity: r.default_capacity,
        firstResponseSeconds: r.first_response_seconds,
        stickyWindowMinutes: r.sticky_window_minutes,
        overflowTeamId: r.overflow_team_id,
        overflowWaitSeconds: r.overflow_wait_seconds,
        overflowMaxWaiting: r.overflow_max_waiting,
        stored: true,
      };
    },

    upsertTeamSettings(db: Executor, teamId: string, s: TeamRoutingSettings) {
      const values = {
        strategy: s.strategy,
        default_capacity: s.defaultCapacity,
        first_response_seconds: s.firstResponseSeconds,
        sticky_window_minutes: s.stickyWindowMinutes,
        overflow_team_id: s.overflowTeamId,
        overflow_wait_seconds: s.overflowWaitSeconds,
        overflow_max_waiting: s.overflowMaxWaiting,
        updated_at: new Date(),
      };
      return db
        .insertInto('routing_team_settings')
        .values({ team_id: teamId, ...values })
        .onConflict((oc) => oc.column('team_id').doUpdateSet(values))
        .execute();
    },

    /** Capacity overrides: the agents' own and, for this team, the memberships'. */
    async capacities(db: Executor, teamId: string, userIds: readonly string[]) {
      if (userIds.length === 0) return { own: new Map<string, number>(), member: new Map<string, number>() };
      const [own, member] = await Promise.all([
        db
          .selectFrom('routing_agents')
          .select(['user_id', 'capacity'])
          .where('user_id', 'in', userIds)
          .where('capacity', 'is not', null)
          .execute(),
        db
          .selectFrom('routing_member_capacity')
          .select(['user_id', 'capacity'])
          .where('team_id', '=', teamId)
          .where('user_id', 'in', userIds)
          .execute(),
      ]);
      return {
        own: new Map(own.map((r) => [r.user_id, r.capacity!])),
        member: new Map(member.map((r) => [r.user_id, r.capacity])),
      };
    },

    setAgentCapacity(db: Executor, userId: string, capacity: number | null) {
      return db
        .insertInto('routing_agents')
        .values({ user_id: userId, capacity })
        .onConflict((oc) => oc.column('user_id').doUpdateSet({ capacity, updated_at: new Date() }))
        .execute();
    },

    async setMemberCapacity(db: Executor, teamId: string, userId: string, capacity: number | null) {
      if (capacity === null) {
        await db
          .deleteFrom('routing_member_capacity')
          .where('team_id', '=', teamId)
          .where('user_id', '=', userId)
          .execute();
        return;
      }
      await db
        .insertInto('routing_member_capacity')
        .values({ team_id: teamId, user_id: userId, capacity })
        .onConflict((oc) =>
          oc.columns(['team_id', 'user_id']).doUpdateSet({ capacity, updated_at: new Date() }),
        )
        .execute();
    },

    /** When each agent last got an automatic assignment (round-robin; ties of least-loaded). */
    async lastAssigned(db: Executor, userIds: readonly string[]): Promise<Map<string, number>> {
      if (userIds.length === 0) return new Map();
      const rows = await db
        .selectFrom('routing_agents')
        .select(['user_id', sql<string>`extract(epoch from last_assigned_at)`.as('at')])
        .where('user_id', 'in', userIds)
        .execute();
      return new Map(rows.map((r) => [r.user_id, Number(r.at)]));
    },

    /** Creates the agents' rows (the lock an assignment takes) where missing. */
    async ensureAgents(db: Executor, userIds: readonly string[]): Promise<void> {
      if (userIds.length === 0) return;
      await db
        .insertInto('routing_agents')
        .values(userIds.map((user_id) => ({ user_id })))
        .onConflict((oc) => oc.column('user_id').doNothing())
        .execute();
    },

    /**
     * Locks the agent's row (ensureAgents made it) without waiting: false when another
     * transaction holds it (another replica is assigning to this agent right now) or it is gone.
     */
    async lockAgent(db: Executor, userId: string): Promise<boolean> {
      const row = await db
        .selectFrom('routing_agents')
        .select('user_id')
        .where('user_id', '=', userId)
        .forUpdate()
        .skipLocked()
        .executeTakeFirst();
      return row !== undefined;
    },

    touchAgent(db: Executor, userId: string, at: Date) {
      return db
        .updateTable('routing_agents')
        .set({ last_assigned_at: at })
        .where('user_id', '=', userId)
        .execute();
    },

    findQueued(db: Executor, conversationId: string) {
      return db
        .selectFrom('routing_queue')
        .select(queueColumns)
        .where('conversation_id', '=', conversationId)
        .executeTakeFirst();
    },

    /** Inserts a waiting row; false when the conversation is queued already. */
    async enqueue(
      db: Executor,
      row: {
        conversationId: string;
        teamId: string;
        contactId: string;
        priority: RoutingPriority;
        reason: string;
        preferredAgentId: string | null;
        excludedAgentId?: string | null;
        waitingSince?: Date;
      },
    ): Promise<boolean> {
      const r = await db
        .insertInto('routing_queue')
        .values({
          conversation_id: row.conversationId,
          team_id: row.teamId,
          contact_id: row.contactId,
          priority: row.priority,
          priority_rank: PRIORITY_RANK[row.priority],
          reason: row.reason,
          preferred_agent_id: row.preferredAgentId,
          excluded_agent_id: row.excludedAgentId ?? null,
          ...(row.waitingSince ? { waiting_since: row.waitingSince } : {}),
        })
        .onConflict((oc) => oc.column('conversation_id').doNothing())
        .returning('conversation_id')
        .executeTakeFirst();
      return r !== undefined;
    },

    /**
     * The head of a team's queue that no other transaction is working on (FOR UPDATE SKIP
     * LOCKED), skipping the ids this pass could not place.
     */
    lockHead(db: Executor, teamId: string, skip: readonly string[]) {
      let q = db
        .selectFrom('routing_queue')
        .select(queueColumns)
        .where('team_id', '=', teamId)
        .where('state', '=', 'waiting');
      if (skip.length > 0) q = q.where('conversation_id', 'not in', skip);
      return q
        .orderBy('priority_rank')
        .orderBy('waiting_since')
        .orderBy('conversation_id')
        .limit(1)
        .forUpdate()
        .skipLocked()
        .executeTakeFirst();
    },

    /** Locks one queue row without waiting (undefined: absent or another transaction has it). */
    lockRow(db: Executor, conversationId: string) {
      return db
        .selectFrom('routing_queue')
        .select(queueColumns)
        .where('conversation_id', '=', conversationId)
        .forUpdate()
        .skipLocked()
        .executeTakeFirst();
    },

    markAssigned(db: Executor, conversationId: string, assigneeId: string, at: Date, due: Date) {
      return db
        .updateTable('routing_queue')
        .set({
          state: 'assigned',
          assignee_id: assigneeId,
          assigned_at: at,
          first_response_due: due,
          updated_at: at,
        })
        .where('conversation_id', '=', conversationId)
        .execute();
    },

    markWaiting(
      db: Executor,
      conversationId: string,
      patch: { reason: string; excludedAgentId: string | null; teamId: string },
    ) {
      return db
        .updateTable('routing_queue')
        .set({
          state: 'waiting',
          assignee_id: null,
          assigned_at: null,
          first_response_due: null,
          reason: patch.reason,
          excluded_agent_id: patch.excludedAgentId,
          team_id: patch.teamId,
          updated_at: new Date(),
        })
        .where('conversation_id', '=', conversationId)
        .execute();
    },

    remove(db: Executor, conversationId: string) {
      return db.deleteFrom('routing_queue').where('conversation_id', '=', conversationId).execute();
    },

    removeWaiting(db: Executor, conversationId: string) {
      return db
        .deleteFrom('routing_queue')
        .where('conversation_id', '=', conversationId)
        .where('state', '=', 'waiting')
        .execute();
    },

    /** The engine's row is done once the agent it was given to answered. */
    removeAnswered(db: Executor, conversationId: string, agentId: string) {
      return db
        .deleteFrom('routing_queue')
        .where('conversation_id', '=', conversationId)
        .where('state', '=', 'assigned')
        .where('assignee_id', '=', agentId)
        .execute();
    },

    teamsWithWaiting(db: Executor) {
      return db
        .selectFrom('routing_queue')
        .select('team_id')
        .distinct()
        .where('state', '=', 'waiting')
        .execute();
    },

    dueAssigned(db: Executor, now: Date, limit: number) {
      return db
        .selectFrom('routing_queue')
        .select(queueColumns)
        .where('state', '=', 'assigned')
        .where('first_response_due', '<=', now)
        .orderBy('first_response_due')
        .limit(limit)
        .execute();
    },

    /** Agents holding engine assignments not answered yet. */
    assignedAgents(db: Executor) {
      return db
        .selectFrom('routing_queue')
        .select('assignee_id')
        .distinct()
        .where('state', '=', 'assigned')
        .execute();
    },

    awaitingFirstResponse(db: Executor, agentId: string) {
      return db
        .selectFrom('routing_queue')
        .select(queueColumns)
        .where('state', '=', 'assigned')
        .where('assignee_id', '=', agentId)
        .execute();
    },

    /** Waiting rows of a team in queue order (position = index + 1). */
    waitingOf(db: Executor, teamId: string) {
      return db
        .selectFrom('routing_queue')
        .select(queueColumns)
        .where('team_id', '=', teamId)
        .where('state', '=', 'waiting')
        .orderBy('priority_rank')
        .orderBy('waiting_since')
        .orderBy('conversation_id')
        .execute();
    },

    assignedOf(db: Executor, teamId: string) {
      return db
        .selectFrom('routing_queue')
        .select(queueColumns)
        .where('team_id', '=', teamId)
        .where('state', '=', 'assigned')
        .orderBy('assigned_at')
        .execute();
    },

    async waitingStats(db: Executor, teamId: string) {
      const r = await db
        .selectFrom('routing_queue')
        .select([(eb) => eb.fn.countAll<string>().as('n'), (eb) => eb.fn.min('waiting_since').as('oldest')])
        .where('team_id', '=', teamId)
        .where('state', '=', 'waiting')
        .executeTakeFirstOrThrow();
      return { count: Number(r.n), oldest: r.oldest ? new Date(r.oldest) : null };
    },

    /** Waiting rows that have waited past their team's overflow threshold (moved to the backup). */
    overflowDue(db: Executor, now: Date) {
      return db
        .selectFrom('routing_queue as q')
        .innerJoin('routing_team_settings as s', 's.team_id', 'q.team_id')
        .select(['q.conversation_id', 'q.team_id', 's.overflow_team_id'])
        .where('q.state', '=', 'waiting')
        .where('s.overflow_team_id', 'is not', null)
        .where('s.overflow_wait_seconds', 'is not', null)
        .where('q.reason', '!=', 'overflow')
        .where(sql<boolean>`q.waiting_since + make_interval(secs => s.overflow_wait_seconds) <= ${now}`)
        .limit(100)
        .execute();
    },

    moveWaiting(db: Executor, conversationId: string, fromTeamId: string, toTeamId: string, reason: string) {
      return db
        .updateTable('routing_queue')
        .set({ team_id: toTeamId, reason, updated_at: new Date() })
        .where('conversation_id', '=', conversationId)
        .where('team_id', '=', fromTeamId)
        .where('state', '=', 'waiting')
        .execute();
    },

    lastAgent(db: Executor, contactId: string) {
      return db
        .selectFrom('routing_last_agent')
        .select(['agent_id', 'at'])
        .where('contact_id', '=', contactId)
        .executeTakeFirst();
    },

    setLastAgent(db: Executor, contactId: string, agentId: string, at: Date) {
      return db
        .insertInto('routing_last_agent')
        .values({ contact_id: contactId, agent_id: agentId, at })
        .onConflict((oc) => oc.column('contact_id').doUpdateSet({ agent_id: agentId, at }))
        .execute();
    },
  };
}

export type RoutingQueueRepository = ReturnType<typeof createRoutingQueueRepository>;
export type QueueRow = NonNullable<Awaited<ReturnType<RoutingQueueRepository['findQueued']>>>;
