// Teams (skill groups): named groups of users. Admins manage them; everyone signed in may list
// them (routing and transfer dialogs need the names). Later modules scope conversations by team.
import type { AuditTrail } from '../../platform/audit.ts';
import type { Database, Executor } from '../../platform/db/database.ts';
import { BadRequestError, ConflictError, NotFoundError } from '../../platform/errors.ts';
import { authorize, type Actor } from '../identity/permissions.ts';
import type { TeamsRepository } from './teams.repository.ts';

export interface TeamMember {
  id: string;
  username: string;
  displayName: string;
  role: string;
}

export interface Team {
  id: string;
  name: string;
  description: string;
  members: TeamMember[];
  createdAt: string;
  updatedAt: string;
}

/** Something that refers to a team and must be changed before the team can be deleted. */
export interface TeamUsage {
  /** What kind of thing it is: 'routing_rule', 'website_default_team', 'calendar' … */
  kind: string;
  id: string;
  name: string;
}

/**
 * Asked, inside the delete's transaction (after the team row is locked), what still uses the
 * team. Other modules register one (container.ts): routing rules, business-hours calendars.
 */
export type TeamUsageProvider = (db: Executor, teamId: string) => Promise<TeamUsage[]>;

type TeamRow = NonNullable<Awaited<ReturnType<TeamsRepository['findTeam']>>>;

export function createTeamsService(deps: {
  db: Database;
  repo: TeamsRepository;
  auditTrail: AuditTrail;
  /** After a committed membership change: these users' open sockets re-read their teams. */
  onAccessChanged?: (userIds: string[]) => void;
}) {
  const { db, repo, auditTrail } = deps;
  const accessChanged = (userIds: string[]) => {
    if (userIds.length > 0) deps.onAccessChanged?.(userIds);
  };
  const usageProviders: TeamUsageProvider[] = [];
  const who = (a: Actor) => ({ id: a.userId, name: a.username, ip: a.ip, userAgent: a.userAgent });

  async function withMembers(rows: TeamRow[]): Promise<Team[]> {
    const members = await repo.membersOf(
      db,
      rows.map((r) => r.id),
    );
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      description: r.description,
      members: members
        .filter((m) => m.team_id === r.id)
        .map((m) => ({ id: m.id, username: m.username, displayName: m.display_name, role: m.role })),
      createdAt: r.created_at.toISOString(),
      updatedAt: r.updated_at.toISOString(),
    }));
  }

  async function teamById(id: string): Promise<Team> {
    const row = await repo.findTeam(db, id);
    if (!row) throw new NotFoundError('team');
    return (await withMembers([row]))[0]!;
  }

  function cleanName(name: string): string {
    const n = name.trim();
    if (n.length === 0 || n.length > 80) throw new BadRequestError('name: 1–80 characters', 'name');
    return n;
  }

  return {
    /** Members of these teams, for routing (no actor: the engine acts as the system). */
    async membersForRouting(teamIds: readonly string[]) {
      if (teamIds.length === 0) return [];
      const rows = await repo.membersOf(db, teamIds);
      return rows.map((m) => ({
        teamId: m.team_id,
        userId: m.id,
        displayName: m.display_name,
        role: m.role,
      }));
    },
    /** Whether the team exists (routing settings name teams). */
    async teamExists(id: string): Promise<boolean> {
      return (await repo.findTeam(db, id)) !== undefined;
    },

    /** Another module declares what of its own refers to teams (see TeamUsageProvider). */
    registerUsage(provider: TeamUsageProvider): void {
      usageProviders.push(provider);
    },

    /** A team and its members' ids, read in the caller's transaction (other modules' checks). */
    async teamWithMemberIds(
      db: Executor,
      id: string,
    ): Promise<{ id: string; name: string; memberIds: string[] } | null> {
      const row = await repo.findTeam(db, id);
      if (!row) return null;
      return { id: row.id, name: row.name, memberIds: (await repo.membersOf(db, [id])).map((m) => m.id) };
    },

    async listTeams(actor: Actor): Promise<Team[]> {
      authorize(actor, 'teams.read');
      return withMembers(await repo.listTeams(db));
    },

    async getTeam(actor: Actor, id: string): Promise<Team> {
      authorize(actor, 'teams.read');
      return teamById(id);
    },

    async createTeam(actor: Actor, input: { name: string; description?: string | undefined }): Promise<Team> {
      authorize(actor, 'teams.manage');
      const name = cleanName(input.name);
      const row = await db.transaction().execute(async (trx) => {
        const created = await repo.insertTeam(trx, { name, description: input.description?.trim() ?? '' });
        if (!created) throw new ConflictError(`name: a team called "${name}" exists`, { field: 'name' });
        await auditTrail.record(trx, who(actor), {
          action: 'team.create',
          targetType: 'team',
          targetId: created.id,
          details: { name },
        });
        return created;
      });
      return (await withMembers([row]))[0]!;
    },

    async updateTeam(
      actor: Actor,
      id: string,
      patch: { name?: string | undefined; description?: string | undefined },
    ): Promise<Team> {
      authorize(actor, 'teams.manage');
      const name = patch.name === undefined ? undefined : cleanName(patch.name);
      await db.transaction().execute(async (trx) => {
        const before = await repo.findTeam(trx, id);
        if (!before) throw new NotFoundError('team');
        if (name !== undefined && (await repo.nameTaken(trx, name, id))) {
          throw new ConflictError(`name: a team called "${name}" exists`, { field: 'name' });
        }
        await repo.updateTeam(trx, id, {
          ...(name !== undefined ? { name } : {}),
          ...(patch.description !== undefined ? { description: patch.description.trim() } : {}),
        });
        await auditTrail.record(trx, who(actor), {
          action: 'team.update',
          targetType: 'team',
          targetId: id,
          details: {
            ...(name !== undefined && name !== before.name ? { name: { from: before.name, to: name } } : {}),
            ...(patch.description !== undefined ? { descriptionChanged: true } : {}),
          },
        });
      });
      return teamById(id);
    },

    async deleteTeam(actor: Actor, id: string): Promise<void> {
      authorize(actor, 'teams.manage');
      const members = await db.transaction().execute(async (trx) => {
        if (!(await repo.findTeamForUpdate(trx, id))) throw new NotFoundError('team');
        const usedBy = (await Promise.all(usageProviders.map((p) => p(trx, id)))).flat();
        if (usedBy.length > 0) {
          throw new ConflictError(
            `team: in use by ${usedBy.map((u) => `${u.kind} "${u.name}"`).join(', ')}; change those first`,
            { field: 'team', usedBy },
          );
        }
        const members = (await repo.membersOf(trx, [id])).map((m) => m.id);
        const deleted = await repo.deleteTeam(trx, id);
        if (!deleted) throw new NotFoundError('team');
        await auditTrail.record(trx, who(actor), {
          action: 'team.delete',
          targetType: 'team',
          targetId: id,
          details: { name: deleted.name },
        });
        return members;
      });
      accessChanged(members);
    },

    async addMember(actor: Actor, teamId: string, userId: string): Promise<Team> {
      authorize(actor, 'teams.manage');
      const changed = await db.transaction().execute(async (trx) => {
        if (!(await repo.findTeam(trx, teamId))) throw new NotFoundError('team');
        if (!(await repo.userExists(trx, userId))) throw new NotFoundError('user');
        const added = await repo.addMember(trx, teamId, userId);
        if (!added) return false; // already a member: nothing changed, nothing to audit
        await auditTrail.record(trx, who(actor), {
          action: 'team.member_add',
          targetType: 'team',
          targetId: teamId,
          details: { userId },
        });
        return true;
      });
      if (changed) accessChanged([userId]);
      return teamById(teamId);
    },

    async removeMember(actor: Actor, teamId: string, userId: string): Promise<Team> {
      authorize(actor, 'teams.manage');
      await db.transaction().execute(async (trx) => {
        if (!(await repo.findTeam(trx, teamId))) throw new NotFoundError('team');
        const removed = await repo.removeMember(trx, teamId, userId);
        if (!removed.numDeletedRows) throw new NotFoundError('team member');
        await auditTrail.record(trx, who(actor), {
          action: 'team.member_remove',
          targetType: 'team',
          targetId: teamId,
          details: { userId },
        });
      });
      accessChanged([userId]);
      return teamById(teamId);
    },
  };
}

export type TeamsService = ReturnType<typeof createTeamsService>;
