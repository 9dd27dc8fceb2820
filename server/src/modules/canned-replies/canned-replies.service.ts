// Canned replies at three scopes. Who may do what:
//   personal — every user with canned_replies.use manages their own; nobody else sees them;
//   team     — members of the team see them; canned_replies.manage_team manages those of the
//              user's own teams (holders of canned_replies.manage_global: of every team);
//   global   — everyone with canned_replies.use sees them; canned_replies.manage_global manages.
// Team and global changes affect colleagues, so they are audited; personal ones are not.
import type { AuditTrail } from '../../platform/audit.ts';
import type { Database } from '../../platform/db/database.ts';
import { BadRequestError, ConflictError, ForbiddenError, NotFoundError } from '../../platform/errors.ts';
import { authorize, roleHas, type Actor } from '../identity/permissions.ts';
import type { CannedRepliesRepository } from './canned-replies.repository.ts';
import { PLACEHOLDERS, unknownPlaceholders } from './placeholders.ts';

export type CannedReplyScope = 'personal' | 'team' | 'global';

export interface CannedReply {
  id: string;
  scope: CannedReplyScope;
  teamId: string | null;
  teamName: string | null;
  shortcut: string;
  body: string;
  category: string;
  editable: boolean;
  createdAt: string;
  updatedAt: string;
}

type Row = NonNullable<Awaited<ReturnType<CannedRepliesRepository['find']>>>;
type Owned = { scope: string; owner_id: string | null; team_id: string | null };

const SHORTCUT = /^[\p{L}\p{N}_.-]{1,32}$/u;

export function createCannedRepliesService(deps: {
  db: Database;
  repo: CannedRepliesRepository;
  auditTrail: AuditTrail;
}) {
  const { db, repo, auditTrail } = deps;
  const who = (a: Actor) => ({ id: a.userId, name: a.username, ip: a.ip, userAgent: a.userAgent });
  const allTeams = (a: Actor) => roleHas(a.role, 'canned_replies.manage_global');

  function visible(actor: Actor, row: Owned): boolean {
    if (row.scope === 'global') return true;
    if (row.scope === 'personal') return row.owner_id === actor.userId;
    return allTeams(actor) || actor.teamIds.includes(row.team_id ?? '');
  }

  function mayManage(actor: Actor, row: Owned): boolean {
    if (row.scope === 'personal') return row.owner_id === actor.userId;
    if (row.scope === 'global') return roleHas(actor.role, 'canned_replies.manage_global');
    return (
      roleHas(actor.role, 'canned_replies.manage_team') &&
      (allTeams(actor) || actor.teamIds.includes(row.team_id ?? ''))
    );
  }

  function toReply(actor: Actor, row: Row): CannedReply {
    return {
      id: row.id,
      scope: row.scope as CannedReplyScope,
      teamId: row.team_id,
      teamName: row.team_name,
      shortcut: row.shortcut,
      body: row.body,
      category: row.category,
      editable: mayManage(actor, row),
      createdAt: row.created_at.toISOString(),
      updatedAt: row.updated_at.toISOString(),
    };
  }

  function cleanShortcut(raw: string): string {
    const s = raw.trim();
    if (!SHORTCUT.test(s)) {
      throw new BadRequestError('shortcut: 1–32 letters, digits, and . _ - (no spaces)', 'shortcut');
    }
    return s;
  }

  function cleanBody(raw: string): string {
    const b = raw.trim();
    if (b.length === 0) throw new BadRequestError('body: must not be empty', 'body');
    const unknown = unknownPlaceholders(b);
    if (unknown.length > 0) {
      throw new BadRequestError(
        `body: unknown placeholder {{${unknown[0]}}}; known: ${PLACEHOLDERS.map((p) => `{{${p}}}`).join(' ')}`,
        'body',
      );
    }
    return b;
  }

  async function loadManageable(actor: Actor, id: string) {
    const row = await repo.find(db, id);
    if (!row || !visible(actor, row)) throw new NotFoundError('canned reply');
    if (!mayManage(actor, row)) throw new ForbiddenError('You may not change this canned reply.');
    return row;
  }

  async function audit(
    trx: Parameters<AuditTrail['record']>[0],
    actor: Actor,
    action: string,
    row: Owned & { id: string },
    details: Record<string, unknown>,
  ) {
    if (row.scope === 'personal') return;
    await auditTrail.record(trx, who(actor), {
      action,
      targetType: 'canned_reply',
      targetId: row.id,
      details: { scope: row.scope, ...(row.team_id ? { teamId: row.team_id } : {}), ...details },
    });
  }

  async function get(actor: Actor, id: string): Promise<CannedReply> {
    authorize(actor, 'canned_replies.use');
    const row = await repo.find(db, id);
    if (!row || !visible(actor, row)) throw new NotFoundError('canned reply');
    return toReply(actor, row);
  }

  const shortcutTaken = (shortcut: string) =>
    new ConflictError(`shortcut: "/${shortcut}" exists in this scope`, { field: 'shortcut' });

  return {
    async list(actor: Actor): Promise<CannedReply[]> {
      authorize(actor, 'canned_replies.use');
      const rows = await repo.listVisible(db, actor.userId, allTeams(actor) ? 'all' : actor.teamIds);
      return rows.map((r) => toReply(actor, r));
    },

    get,

    async create(
      actor: Actor,
      input: {
        scope: CannedReplyScope;
        teamId?: string | undefined;
        shortcut: string;
        body: string;
        category?: string | undefined;
      },
    ): Promise<CannedReply> {
      authorize(actor, 'canned_replies.use');
      const shortcut = cleanShortcut(input.shortcut);
      const body = cleanBody(input.body);
      const category = input.category?.trim() ?? '';
      if (input.scope !== 'team' && input.teamId !== undefined) {
        throw new BadRequestError('teamId: only team replies belong to a team', 'teamId');
      }
      if (input.scope === 'team' && input.teamId === undefined) {
        throw new BadRequestError('teamId: is required for a team reply', 'teamId');
      }
      const owned: Owned = {
        scope: input.scope,
        owner_id: input.scope === 'personal' ? actor.userId : null,
        team_id: input.scope === 'team' ? input.teamId! : null,
      };
      if (input.scope === 'global') authorize(actor, 'canned_replies.manage_global');
      if (input.scope === 'team') {
        authorize(actor, 'canned_replies.manage_team');
        if (!mayManage(actor, owned)) {
          throw new ForbiddenError('You can only manage the canned replies of your own teams.');
        }
      }
      const id = await db.transaction().execute(async (trx) => {
        if (owned.team_id && !(await repo.teamExists(trx, owned.team_id))) throw new NotFoundError('team');
        const created = await repo.insert(trx, {
          scope: owned.scope,
          ownerId: owned.owner_id,
          teamId: owned.team_id,
          shortcut,
          body,
          category,
          createdBy: actor.userId,
        });
        if (!created) throw shortcutTaken(shortcut);
        await audit(trx, actor, 'canned_reply.create', { ...owned, id: created.id }, { shortcut });
        return created.id;
      });
      return get(actor, id);
    },

    async update(
      actor: Actor,
      id: string,
      patch: { shortcut?: string | undefined; body?: string | undefined; category?: string | undefined },
    ): Promise<CannedReply> {
      authorize(actor, 'canned_replies.use');
      const shortcut = patch.shortcut === undefined ? undefined : cleanShortcut(patch.shortcut);
      const body = patch.body === undefined ? undefined : cleanBody(patch.body);
      const category = patch.category?.trim();
      await loadManageable(actor, id);
      await db.transaction().execute(async (trx) => {
        const before = await repo.findForUpdate(trx, id);
        if (!before) throw new NotFoundError('canned reply');
        const owner = { scope: before.scope, ownerId: before.owner_id, teamId: before.team_id };
        if (shortcut !== undefined && (await repo.shortcutTaken(trx, owner, shortcut, id))) {
          throw shortcutTaken(shortcut);
        }
        await repo.update(trx, id, {
          ...(shortcut !== undefined ? { shortcut } : {}),
          ...(body !== undefined ? { body } : {}),
          ...(category !== undefined ? { category } : {}),
        });
        await audit(trx, actor, 'canned_reply.update', before, {
          ...(shortcut !== undefined && shortcut !== before.shortcut
            ? { shortcut: { from: before.shortcut, to: shortcut } }
            : {}),
          ...(body !== undefined && body !== before.body ? { bodyChanged: true } : {}),
          ...(category !== undefined && category !== before.category
            ? { category: { from: before.category, to: category } }
            : {}),
        });
      });
      return get(actor, id);
    },

    async remove(actor: Actor, id: string): Promise<void> {
      authorize(actor, 'canned_replies.use');
      await loadManageable(actor, id);
      await db.transaction().execute(async (trx) => {
        const before = await repo.findForUpdate(trx, id);
        if (!before) throw new NotFoundError('canned reply');
        await repo.delete(trx, id);
        await audit(trx, actor, 'canned_reply.delete', before, { shortcut: before.shortcut });
      });
    },
  };
}

export type CannedRepliesService = ReturnType<typeof createCannedRepliesService>;
