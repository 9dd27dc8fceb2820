// Agent availability: each agent sets their own status (online, busy, away, offline) and sees
// their colleagues'. Stored (migrations/0020) so it survives reconnects and restarts; a change is
// announced on the events bus after commit, which the NOTIFY bridge carries to every replica's
// agent sockets ('availability' event). Whether an agent is connected at all is presence
// (realtime/presence.ts, never stored): the console shows "offline" for a chosen status whose
// agent has no socket. Routing (a later issue) will read `availableAgents`-style data from here.
import type { Database, Executor } from '../../platform/db/database.ts';
import type { EventBus } from '../../platform/events.ts';
import type { AgentAvailability } from '../../realtime/events.ts';
import { authorize, roleHas, type Actor } from '../identity/permissions.ts';
import type { AvailabilityRepository } from './availability.repository.ts';

export interface AgentAvailabilityView {
  userId: string;
  /** What the agent chose; 'online' when they never chose. */
  status: AgentAvailability;
  /** The agent has the console open somewhere (any replica). */
  connected: boolean;
  updatedAt: string | null;
}

export function createAvailabilityService(deps: {
  db: Database;
  repo: AvailabilityRepository;
  bus: Pick<EventBus, 'ephemeral'>;
  /** Presence: whether the user has an agent socket on any replica. */
  connected: (userId: string) => boolean;
}) {
  const { db, repo, bus } = deps;
  const view = (r: {
    user_id: string;
    status: string | null;
    updated_at: Date | null;
  }): AgentAvailabilityView => ({
    userId: r.user_id,
    status: (r.status ?? 'online') as AgentAvailability,
    connected: deps.connected(r.user_id),
    updatedAt: r.updated_at?.toISOString() ?? null,
  });

  return {
    /**
     * Colleagues' availability: everyone for readers of the user list (supervisors, admins),
     * otherwise the members of the reader's own teams (whom they can transfer to).
     */
    async list(actor: Actor): Promise<AgentAvailabilityView[]> {
      authorize(actor, 'availability.read');
      const rows = roleHas(actor.role, 'users.read')
        ? await repo.listAgents(db)
        : await repo.listAgents(db, [
            ...new Set([actor.userId, ...(await repo.teammatesOf(db, actor.userId)).map((r) => r.user_id)]),
          ]);
      return rows.map(view);
    },

    /** Chosen status and presence of these agents, for routing (no actor: the engine is the system). */
    async statusesOf(userIds: readonly string[]): Promise<Map<string, AgentAvailabilityView>> {
      const rows = await repo.listAgents(db, userIds);
      return new Map(rows.map((r) => [r.user_id, view(r)]));
    },

    /**
     * Another agent's status, set by routing (a supervisor for their team's member) in the
     * caller's transaction; `announce` after the commit.
     */
    setFor(trx: Executor, userId: string, status: AgentAvailability) {
      return repo.upsert(trx, userId, status);
    },
    announce(userId: string, status: AgentAvailability) {
      bus.ephemeral({ kind: 'availability', userId, status });
    },

    /** The actor sets their own status; every colleague's console hears it at once. */
    async setOwn(actor: Actor, status: AgentAvailability): Promise<AgentAvailabilityView> {
      authorize(actor, 'availability.set');
      const row = await db.transaction().execute((trx) => repo.upsert(trx, actor.userId, status));
      bus.ephemeral({ kind: 'availability', userId: actor.userId, status });
      return view(row);
    },
  };
}

export type AvailabilityService = ReturnType<typeof createAvailabilityService>;
