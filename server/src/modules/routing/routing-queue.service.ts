// Routing engine administration (docs/ROUTING.md): team routing settings, agents' capacity and
// status, and the live queue of a team. Supervisors act on their own teams, admins on all.
// Every change is one transaction with its audit record; the engine (assignment.ts) is asked to
// place waiting work right after a change that may free slots.
import type { AuditActor, AuditTrail } from '../../platform/audit.ts';
import type { Database } from '../../platform/db/database.ts';
import { BadRequestError, ForbiddenError, NotFoundError } from '../../platform/errors.ts';
import type { AgentAvailability } from '../../realtime/events.ts';
import type { AvailabilityService } from '../availability/availability.service.ts';
import { authorize, type Actor } from '../identity/permissions.ts';
import type { TeamsService } from '../teams/teams.service.ts';
import type { RoutingEngine } from './assignment.ts';
import type { RoutingQueueRepository, TeamRoutingSettings } from './routing-queue.repository.ts';
import type { RoutingPriority } from './routing-target.ts';

const capacityOrNull = (c: number | 'default'): number | null => (c === 'default' ? null : c);

function auditActorOf(actor: Actor): AuditActor {
  return { id: actor.userId, name: actor.username, ip: actor.ip, userAgent: actor.userAgent };
}

export function createRoutingQueueService(deps: {
  db: Database;
  repo: RoutingQueueRepository;
  auditTrail: AuditTrail;
  teams: Pick<TeamsService, 'membersForRouting' | 'teamExists'>;
  availability: Pick<AvailabilityService, 'setFor' | 'announce'>;
  engine: Pick<RoutingEngine, 'agentsOf' | 'fillTeam'>;
}) {
  const { db, repo, auditTrail, engine } = deps;

  /** The team exists and the actor may act on it (supervisors: their teams); else 404 / 403. */
  async function teamInScope(actor: Actor, teamId: string): Promise<void> {
    if (!(await deps.teams.teamExists(teamId))) throw new NotFoundError('team');
    if (actor.role !== 'admin' && !actor.teamIds.includes(teamId)) {
      throw new ForbiddenError('Supervisors manage routing of their own teams.');
    }
  }

  async function isMember(teamId: string, userId: string): Promise<boolean> {
    return (await deps.teams.membersForRouting([teamId])).some((m) => m.userId === userId);
  }

  function settingsView(teamId: string, s: TeamRoutingSettings) {
    return { teamId, ...s };
  }

  return {
    async getTeamSettings(actor: Actor, teamId: string) {
      authorize(actor, 'routing.read');
      await teamInScope(actor, teamId);
      const { stored: _stored, ...s } = await repo.teamSettings(db, teamId);
      return settingsView(teamId, s);
    },

    async updateTeamSettings(actor: Actor, teamId: string, patch: Partial<TeamRoutingSettings>) {
      authorize(actor, 'routing.manage');
      await teamInScope(actor, teamId);
      if (patch.overflowTeamId) {
        if (patch.overflowTeamId === teamId) {
          throw new BadRequestError('overflowTeamId: a team cannot overflow to itself', 'overflowTeamId');
        }
        if (!(await deps.teams.teamExists(patch.overflowTeamId))) {
          throw new BadRequestError('overflowTeamId: no such team', 'overflowTeamId');
        }
      }
      const next = await db.transaction().execute(async (trx) => {
        const { stored: _stored, ...before } = await repo.teamSettings(trx, teamId);
        const after: TeamRoutingSettings = { ...before, ...patch };
        await repo.upsertTeamSettings(trx, teamId, after);
        await auditTrail.record(trx, auditActorOf(actor), {
          action: 'routing.team_settings',
          targetType: 'team',
          targetId: teamId,
          details: { changed: Object.keys(patch), before, after },
        });
        return after;
      });
      void engine.fillTeam(teamId).catch(() => undefined);
      return settingsView(teamId, next);
    },

    /**
     * A member's capacity in this team (null: back to the agent's own or the team default)
     * and/or their status. Supervisors: members of their teams.
     */
    async updateMember(
      actor: Actor,
      teamId: string,
      userId: string,
      input: { capacity?: number | 'default' | undefined; status?: AgentAvailability | undefined },
    ) {
      authorize(actor, 'routing.manage');
      await teamInScope(actor, teamId);
      if (!(await isMember(teamId, userId))) throw new NotFoundError('team member');
      await db.transaction().execute(async (trx) => {
        if (input.capacity !== undefined)
          await repo.setMemberCapacity(trx, teamId, userId, capacityOrNull(input.capacity));
        if (input.status !== undefined) await deps.availability.setFor(trx, userId, input.status);
        await auditTrail.record(trx, auditActorOf(actor), {
          action: 'routing.member_update',
          targetType: 'user',
          targetId: userId,
          details: { teamId, ...input },
        });
      });
      if (input.status !== undefined) deps.availability.announce(userId, input.status);
      void engine.fillTeam(teamId).catch(() => undefined);
      return (await engine.agentsOf(teamId)).find((a) => a.userId === userId)!;
    },

    /**
     * An agent's own capacity (every team without a membership override) and/or status.
     * Supervisors: agents who share one of their teams.
     */
    async updateAgent(
      actor: Actor,
      userId: string,
      input: { capacity?: number | 'default' | undefined; status?: AgentAvailability | undefined },
    ) {
      authorize(actor, 'routing.manage');
      const memberships = (await deps.teams.membersForRouting(actor.role === 'admin' ? [] : actor.teamIds))
        .filter((m) => m.userId === userId)
        .map((m) => m.teamId);
      if (actor.role !== 'admin' && memberships.length === 0) throw new NotFoundError('agent');
      await db
        .transaction()
        .execute(async (trx) => {
          if (input.capacity !== undefined)
            await repo.setAgentCapacity(trx, userId, capacityOrNull(input.capacity));
          if (input.status !== undefined) await deps.availability.setFor(trx, userId, input.status);
          await auditTrail.record(trx, auditActorOf(actor), {
            action: 'routing.agent_update',
            targetType: 'user',
            targetId: userId,
            details: { ...input },
          });
        })
        .catch((err: unknown) => {
          // The user does not exist (foreign key): the same 404 as out of scope.
          if (err instanceof Error && 'code' in err && err.code === '23503') throw new NotFoundError('agent');
          throw err;
        });
      if (input.status !== undefined) deps.availability.announce(userId, input.status);
      return {
        userId,
        capacity: input.capacity === undefined ? null : capacityOrNull(input.capacity),
        status: input.status ?? null,
      };
    },

    /** The team's queue in order, the unanswered assignments and the agents (live view). */
    async teamQueue(actor: Actor, teamId: string, now = new Date()) {
      authorize(actor, 'routing.read');
      await teamInScope(actor, teamId);
      const [waiting, awaiting, agents] = await Promise.all([
        repo.waitingOf(db, teamId),
        repo.assignedOf(db, teamId),
        engine.agentsOf(teamId),
      ]);
      const online = agents.filter((a) => a.status === 'online' && a.connected);
      const freeSlots = online.reduce((n, a) => n + Math.max(0, a.capacity - a.load), 0);
      const waitSeconds = (since: Date) => Math.max(0, Math.floor((now.getTime() - since.getTime()) / 1000));
      return {
        teamId,
        summary: {
          waiting: waiting.length,
          longestWaitSeconds: waiting.reduce((m, r) => Math.max(m, waitSeconds(r.waiting_since)), 0),
          agentsOnline: online.length,
          freeSlots,
        },
        waiting: waiting.map((r, i) => ({
          conversationId: r.conversation_id,
          priority: r.priority as RoutingPriority,
          reason: r.reason,
          waitingSince: r.waiting_since.toISOString(),
          waitSeconds: waitSeconds(r.waiting_since),
          position: i + 1,
          estimatedWaitSeconds: null,
        })),
        awaitingFirstResponse: awaiting.map((r) => ({
          conversationId: r.conversation_id,
          priority: r.priority as RoutingPriority,
          assigneeId: r.assignee_id!,
          assignedAt: r.assigned_at!.toISOString(),
          firstResponseDue: r.first_response_due!.toISOString(),
        })),
        agents,
      };
    },
  };
}

export type RoutingQueueService = ReturnType<typeof createRoutingQueueService>;
