// Routing rules (docs/ROUTING.md, "Rules"): which team, priority and preferred agent a new
// conversation gets. Admins keep an ordered list of rules per website; the first enabled rule
// whose conditions all hold wins; no match → the website's default team (channels.default_team_id,
// owned by the widget module) at normal priority.
//
// `decide` (the seam the assignment engine calls: routing-target.ts) is pure matching over rules
// cached in memory. A change commits, then this replica reloads before answering and announces an
// ephemeral `routing_rules` event; the NOTIFY bridge carries it to every other replica, which
// drops its cache and reloads (so within milliseconds, not seconds). As a safety net for a lost
// notification, a cache older than MAX_STALE_MS is reloaded in the background.
import type { AuditTrail } from '../../platform/audit.ts';
import type { Database, Executor } from '../../platform/db/database.ts';
import { BadRequestError, NotFoundError } from '../../platform/errors.ts';
import type { EventBus } from '../../platform/events.ts';
import { authorize, type Actor } from '../identity/permissions.ts';
import type { TeamUsage, TeamsService } from '../teams/teams.service.ts';
import type { WidgetService } from '../widget/widget.service.ts';
import type { RoutingRulesRepository, RuleValues } from './routing-rules.repository.ts';
import {
  PRIORITIES,
  type Condition,
  type CreateRuleBody,
  type RuleView,
  type TestBody,
  type UpdateRuleBody,
} from './routing-rules.schemas.ts';
import { isVipContact, type RouteTarget, type RoutingInput, type RoutingPriority } from './routing-target.ts';

const MAX_STALE_MS = 30_000;
/** A BCP 47 language tag or prefix as browsers report it ("zh", "zh-CN", "en-US"). */
export const LANGUAGE_TAG = /^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8}){0,5}$/;

// ---------------------------------------------------------------- pure matching

/** Case- and width-insensitive form: NFKC folds full-width to half-width (ＡＢＣ１ → abc1). */
export function fold(s: string): string {
  return s.normalize('NFKC').toLowerCase();
}

/**
 * `*` any run of characters, `?` one character, everything else literal. Iterative with a single
 * back-track point (no regular expression, no exponential case): O(pattern × text) at worst.
 * Works on code points (arrays), so `?` is one character even outside the BMP.
 */
export function globMatch(pattern: string | readonly string[], text: string | readonly string[]): boolean {
  const p = typeof pattern === 'string' ? [...pattern] : pattern;
  const t = typeof text === 'string' ? [...text] : text;
  let pi = 0;
  let ti = 0;
  let star = -1;
  let mark = 0;
  while (ti < t.length) {
    if (pi < p.length && (p[pi] === '?' || (p[pi] !== '*' && p[pi] === t[ti]))) {
      pi++;
      ti++;
    } else if (pi < p.length && p[pi] === '*') {
      star = pi++;
      mark = ti;
    } else if (star >= 0) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === '*') pi++;
  return pi === p.length;
}

export interface MatchInput {
  pageUrl: string | null;
  language: string | null;
  tags: readonly string[];
  attributes: Readonly<Record<string, unknown>>;
  message: string;
}

/** The input folded once per decision (not once per condition). */
interface Prepared {
  url: string | null;
  urlChars: string[] | null;
  language: string | null;
  tags: Set<string>;
  attributes: Readonly<Record<string, unknown>>;
  message: string;
}

function prepare(input: MatchInput): Prepared {
  const url = input.pageUrl ? fold(input.pageUrl) : null;
  return {
    url,
    urlChars: null,
    language: input.language ? input.language.toLowerCase() : null,
    tags: new Set(input.tags.map(fold)),
    attributes: input.attributes,
    message: fold(input.message),
  };
}

/** A condition with its text folded (and a glob split into code points) once, at load. */
interface CompiledCondition {
  c: Condition;
  value: string;
  values: string[];
  glob: string[] | null;
}

interface CompiledRule {
  id: string;
  name: string;
  enabled: boolean;
  conditions: CompiledCondition[];
  target: RouteTarget;
}

function compile(r: {
  id: string;
  name: string;
  enabled: boolean;
  conditions: unknown;
  team_id: string;
  priority: string;
  preferred_agent_id: string | null;
}): CompiledRule {
  const conditions = (Array.isArray(r.conditions) ? r.conditions : []) as Condition[];
  return {
    id: r.id,
    name: r.name,
    enabled: r.enabled,
    conditions: conditions.map((c) => {
      const value = typeof c.value === 'string' ? fold(c.value) : '';
      return {
        c,
        value,
        values: (c.values ?? []).map(fold),
        glob: c.type === 'pageUrl' && c.op === 'glob' ? [...value] : null,
      };
    }),
    target: {
      teamId: r.team_id,
      priority: r.priority as RoutingPriority,
      preferredAgentId: r.preferred_agent_id,
      ruleId: r.id,
    },
  };
}

function holds(k: CompiledCondition, p: Prepared): boolean {
  const { c } = k;
  switch (c.type) {
    case 'pageUrl': {
      if (p.url === null) return false;
      if (k.glob) return globMatch(k.glob, (p.urlChars ??= [...p.url]));
      return c.op === 'prefix' ? p.url.startsWith(k.value) : p.url.includes(k.value);
    }
    case 'language': {
      const lang = p.language;
      return lang !== null && k.values.some((v) => lang === v || lang.startsWith(`${v}-`));
    }
    case 'tags':
      return c.match === 'all' ? k.values.every((v) => p.tags.has(v)) : k.values.some((v) => p.tags.has(v));
    case 'attribute': {
      const key = c.key ?? '';
      const actual = Object.hasOwn(p.attributes, key) ? p.attributes[key] : undefined;
      const scalar = typeof actual === 'string' || typeof actual === 'number' || typeof actual === 'boolean';
      return scalar && String(actual) === String(c.value);
    }
    case 'keywords':
      return k.values.some((v) => p.message.includes(v));
  }
}

/** Why a condition does not hold (the test box's trace). */
function whyNot(c: Condition, input: MatchInput): string {
  switch (c.type) {
    case 'pageUrl':
      if (!input.pageUrl) return 'no page URL';
      return `page URL does not ${c.op === 'prefix' ? 'start with' : c.op === 'glob' ? 'match' : 'contain'} "${String(c.value)}"`;
    case 'language':
      if (!input.language) return 'no language';
      return `language ${input.language} is not ${(c.values ?? []).join(' / ')}`;
    case 'tags':
      return `contact tags lack ${c.match === 'all' ? 'all of' : 'any of'} ${(c.values ?? []).join(', ')}`;
    case 'attribute':
      return `attribute ${c.key ?? ''} is not ${String(c.value)}`;
    case 'keywords':
      return `first message contains none of ${(c.values ?? []).join(', ')}`;
  }
}

export type TraceEntry = {
  ruleId: string;
  name: string;
  outcome: 'matched' | 'disabled' | 'no_match';
  failed: { index: number; type: string; reason: string } | null;
};

/** The first enabled rule whose conditions all hold (an empty list always holds). */
function firstHit(rules: readonly CompiledRule[], p: Prepared): CompiledRule | null {
  for (const rule of rules) {
    if (rule.enabled && rule.conditions.every((k) => holds(k, p))) return rule;
  }
  return null;
}

/** The same, with every rule up to the hit and why it did not hit (the test box). */
export function evaluate(
  rules: readonly CompiledRule[],
  input: MatchInput,
): { hit: CompiledRule | null; trace: TraceEntry[] } {
  const p = prepare(input);
  const trace: TraceEntry[] = [];
  for (const rule of rules) {
    if (!rule.enabled) {
      trace.push({ ruleId: rule.id, name: rule.name, outcome: 'disabled', failed: null });
      continue;
    }
    const index = rule.conditions.findIndex((k) => !holds(k, p));
    const c = index >= 0 ? rule.conditions[index]!.c : null;
    trace.push({
      ruleId: rule.id,
      name: rule.name,
      outcome: c ? 'no_match' : 'matched',
      failed: c ? { index, type: c.type, reason: whyNot(c, input) } : null,
    });
    if (!c) return { hit: rule, trace };
  }
  return { hit: null, trace };
}

// ---------------------------------------------------------------- validation

const FIELDS_OF: Record<Condition['type'], readonly (keyof Condition)[]> = {
  pageUrl: ['op', 'value'],
  language: ['values'],
  tags: ['values', 'match'],
  attribute: ['key', 'value'],
  keywords: ['values'],
};

/** The combination of fields each condition type needs; 400 naming `conditions.i.field`. */
export function validateConditions(conditions: readonly Condition[]): Condition[] {
  return conditions.map((c, i) => {
    const at = (f: string) => `conditions.${i}.${f}`;
    const allowed = FIELDS_OF[c.type];
    for (const f of Object.keys(c) as (keyof Condition)[]) {
      if (f !== 'type' && !allowed.includes(f)) {
        throw new BadRequestError(`${at(f)}: not used by a ${c.type} condition`, at(f));
      }
    }
    const need = (f: keyof Condition) => {
      if (c[f] === undefined)
        throw new BadRequestError(`${at(f)}: is required for a ${c.type} condition`, at(f));
    };
    switch (c.type) {
      case 'pageUrl': {
        need('op');
        need('value');
        if (typeof c.value !== 'string' || c.value.trim() === '') {
          throw new BadRequestError(`${at('value')}: a non-empty text`, at('value'));
        }
        return { type: c.type, op: c.op!, value: c.value.trim() };
      }
      case 'language': {
        need('values');
        const values = c.values!.map((v) => v.trim());
        const bad = values.findIndex((v) => !LANGUAGE_TAG.test(v));
        if (bad >= 0) {
          throw new BadRequestError(
            `${at(`values.${bad}`)}: not a language tag (e.g. zh, zh-CN, en)`,
            at(`values.${bad}`),
          );
        }
        return { type: c.type, values };
      }
      case 'tags':
      case 'keywords': {
        need('values');
        const values = c.values!.map((v) => v.trim());
        const empty = values.findIndex((v) => v === '');
        if (empty >= 0)
          throw new BadRequestError(`${at(`values.${empty}`)}: must not be blank`, at(`values.${empty}`));
        return c.type === 'tags'
          ? { type: c.type, match: c.match ?? 'any', values }
          : { type: c.type, values };
      }
      case 'attribute': {
        need('key');
        need('value');
        const key = c.key!.trim();
        if (key === '') throw new BadRequestError(`${at('key')}: must not be blank`, at('key'));
        return { type: c.type, key, value: c.value! };
      }
    }
  });
}

// ---------------------------------------------------------------- the service

type RuleRow = NonNullable<Awaited<ReturnType<RoutingRulesRepository['findRule']>>>;

function view(r: RuleRow): RuleView {
  return {
    id: r.id,
    channelId: r.channel_id,
    position: r.position,
    name: r.name,
    enabled: r.enabled,
    conditions: (Array.isArray(r.conditions) ? r.conditions : []) as Condition[],
    teamId: r.team_id,
    priority: r.priority as RoutingPriority,
    preferredAgentId: r.preferred_agent_id,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

interface Snapshot {
  rules: Map<string, CompiledRule[]>;
  defaults: Map<string, string | null>;
  loadedAt: number;
}

function cleanName(name: string): string {
  const n = name.trim();
  if (n === '') throw new BadRequestError('name: must not be blank', 'name');
  return n;
}

const isForeignKeyViolation = (err: unknown) => (err as { code?: string }).code === '23503';

export function createRoutingRulesService(deps: {
  db: Database;
  repo: RoutingRulesRepository;
  auditTrail: AuditTrail;
  teams: Pick<TeamsService, 'teamWithMemberIds'>;
  websites: Pick<WidgetService, 'websites' | 'setDefaultTeam'>;
  bus: Pick<EventBus, 'ephemeral'>;
  onReloadError?: (err: unknown) => void;
}) {
  const { db, repo, auditTrail, teams, websites, bus } = deps;
  const who = (a: Actor) => ({ id: a.userId, name: a.username, ip: a.ip, userAgent: a.userAgent });

  let current: Snapshot | null = null;
  let pending: Promise<Snapshot> | null = null;
  let generation = 0;
  let reloads = 0;

  function reload(): Promise<Snapshot> {
    const gen = ++generation;
    const p = (async () => {
      const [rows, sites] = await Promise.all([repo.listRules(db), websites.websites(db)]);
      const rules = new Map<string, CompiledRule[]>();
      for (const r of rows) {
        const list = rules.get(r.channel_id) ?? [];
        list.push(compile(r));
        rules.set(r.channel_id, list);
      }
      const snap: Snapshot = {
        rules,
        defaults: new Map(sites.map((s) => [s.channelId, s.defaultTeamId])),
        loadedAt: Date.now(),
      };
      reloads++;
      if (gen === generation) current = snap;
      return snap;
    })();
    pending = p;
    p.then(
      () => {
        if (pending === p) pending = null;
      },
      (err: unknown) => {
        if (pending === p) pending = null;
        deps.onReloadError?.(err);
      },
    );
    return p;
  }

  async function snapshot(): Promise<Snapshot> {
    if (current) {
      if (Date.now() - current.loadedAt > MAX_STALE_MS && !pending) void reload().catch(() => undefined);
      return current;
    }
    return pending ?? reload();
  }

  /** After a committed change: this replica reloads now, the others on the NOTIFY. */
  async function changed(): Promise<void> {
    current = null;
    bus.ephemeral({ kind: 'routing_rules' });
    await reload().catch(() => undefined);
  }

  async function checkTarget(trx: Executor, teamId: string, preferredAgentId: string | null): Promise<void> {
    const team = await teams.teamWithMemberIds(trx, teamId);
    if (!team) throw new BadRequestError('teamId: no such team', 'teamId');
    if (preferredAgentId !== null && !team.memberIds.includes(preferredAgentId)) {
      throw new BadRequestError(
        `preferredAgentId: not a member of the team "${team.name}"`,
        'preferredAgentId',
      );
    }
  }

  async function websiteOf(trx: Executor, channelId: string) {
    const site = (await websites.websites(trx)).find((s) => s.channelId === channelId);
    if (!site) throw new BadRequestError('channelId: no such website', 'channelId');
    return site;
  }

  /** A race with a team delete ends in the foreign key: the same 400 as a missing team. */
  async function guarded<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (isForeignKeyViolation(err)) throw new BadRequestError('teamId: no such team', 'teamId');
      throw err;
    }
  }

  return {
    /** The seam the assignment engine calls (routing-target.ts: DecideTarget). */
    async decide(input: RoutingInput): Promise<RouteTarget> {
      const snap = await snapshot();
      const hit = firstHit(
        snap.rules.get(input.channelId) ?? [],
        prepare({
          pageUrl: input.sourcePageUrl,
          language: input.language,
          tags: input.contact.tags,
          attributes: input.contact.attributes,
          message: input.firstMessage,
        }),
      );
      if (hit) return { ...hit.target };
      return {
        teamId: snap.defaults.get(input.channelId) ?? null,
        priority: isVipContact(input.contact) ? 'vip' : 'normal',
        preferredAgentId: null,
        ruleId: null,
      };
    },

    /** A change notice from another replica (NOTIFY bridge): drop the cache and reload. */
    invalidate(): void {
      current = null;
      void reload().catch(() => undefined);
    },

    /** How many times the cache was loaded (tests and metrics). */
    cacheStats: () => ({ reloads, loadedAt: current?.loadedAt ?? null }),

    async list(actor: Actor, channelId?: string): Promise<RuleView[]> {
      authorize(actor, 'routing.read');
      return (await repo.listRules(db, channelId)).map(view);
    },

    async listWebsites(actor: Actor) {
      authorize(actor, 'routing.read');
      return websites.websites(db);
    },

    async create(actor: Actor, body: CreateRuleBody): Promise<RuleView> {
      authorize(actor, 'routing_rules.manage');
      const conditions = validateConditions(body.conditions);
      const values: RuleValues = {
        name: cleanName(body.name),
        enabled: body.enabled ?? true,
        conditions,
        team_id: body.teamId,
        priority: body.priority,
        preferred_agent_id: body.preferredAgentId ?? null,
      };
      const row = await guarded(() =>
        db.transaction().execute(async (trx) => {
          await websiteOf(trx, body.channelId);
          await repo.lockChannel(trx, body.channelId);
          await checkTarget(trx, values.team_id, values.preferred_agent_id);
          const created = await repo.insertRule(
            trx,
            body.channelId,
            await repo.nextPosition(trx, body.channelId),
            values,
          );
          await auditTrail.record(trx, who(actor), {
            action: 'routing_rule.create',
            targetType: 'routing_rule',
            targetId: created.id,
            details: { channelId: body.channelId, ...values },
          });
          return created;
        }),
      );
      await changed();
      return view(row);
    },

    async update(actor: Actor, id: string, patch: UpdateRuleBody): Promise<RuleView> {
      authorize(actor, 'routing_rules.manage');
      const conditions = patch.conditions === undefined ? undefined : validateConditions(patch.conditions);
      const row = await guarded(() =>
        db.transaction().execute(async (trx) => {
          const before = await repo.findRule(trx, id);
          if (!before) throw new NotFoundError('routing rule');
          await repo.lockChannel(trx, before.channel_id);
          const values: RuleValues = {
            name: patch.name === undefined ? before.name : cleanName(patch.name),
            enabled: patch.enabled ?? before.enabled,
            conditions: conditions ?? (before.conditions as unknown[]),
            team_id: patch.teamId ?? before.team_id,
            priority: patch.priority ?? before.priority,
            preferred_agent_id:
              patch.preferredAgentId === undefined ? before.preferred_agent_id : patch.preferredAgentId,
          };
          await checkTarget(trx, values.team_id, values.preferred_agent_id);
          const after = await repo.updateRule(trx, id, values);
          const changes: Record<string, unknown> = {};
          for (const k of Object.keys(values) as (keyof RuleValues)[]) {
            const from = before[k];
            if (JSON.stringify(from) !== JSON.stringify(values[k])) changes[k] = { from, to: values[k] };
          }
          await auditTrail.record(trx, who(actor), {
            action: 'routing_rule.update',
            targetType: 'routing_rule',
            targetId: id,
            details: { channelId: before.channel_id, changes },
          });
          return after;
        }),
      );
      await changed();
      return view(row);
    },

    async remove(actor: Actor, id: string): Promise<void> {
      authorize(actor, 'routing_rules.manage');
      await db.transaction().execute(async (trx) => {
        const before = await repo.findRule(trx, id);
        if (!before) throw new NotFoundError('routing rule');
        await repo.lockChannel(trx, before.channel_id);
        if (!(await repo.deleteRule(trx, id))) throw new NotFoundError('routing rule');
        await auditTrail.record(trx, who(actor), {
          action: 'routing_rule.delete',
          targetType: 'routing_rule',
          targetId: id,
          details: { channelId: before.channel_id, name: before.name, teamId: before.team_id },
        });
      });
      await changed();
    },

    /** The website's whole rule list in its new order (every rule exactly once). */
    async reorder(actor: Actor, input: { channelId: string; ruleIds: string[] }): Promise<RuleView[]> {
      authorize(actor, 'routing_rules.manage');
      const rows = await db.transaction().execute(async (trx) => {
        await websiteOf(trx, input.channelId);
        await repo.lockChannel(trx, input.channelId);
        const before = (await repo.listRules(trx, input.channelId)).map((r) => r.id);
        const given = new Set(input.ruleIds);
        if (
          given.size !== input.ruleIds.length ||
          given.size !== before.length ||
          before.some((id) => !given.has(id))
        ) {
          throw new BadRequestError('ruleIds: must list every rule of the website exactly once', 'ruleIds');
        }
        await repo.setPositions(trx, input.ruleIds);
        await auditTrail.record(trx, who(actor), {
          action: 'routing_rule.reorder',
          targetType: 'channel',
          targetId: input.channelId,
          details: { from: before, to: input.ruleIds },
        });
        return repo.listRules(trx, input.channelId);
      });
      await changed();
      return rows.map(view);
    },

    /** The team a website's conversations go to when no rule matches (null: none). */
    async setDefaultTeam(actor: Actor, channelId: string, teamId: string | null) {
      authorize(actor, 'routing_rules.manage');
      const site = await guarded(() =>
        db.transaction().execute(async (trx) => {
          const before = await websiteOf(trx, channelId);
          if (teamId !== null) await checkTarget(trx, teamId, null);
          const after = await websites.setDefaultTeam(trx, channelId, teamId);
          if (!after) throw new BadRequestError('channelId: no such website', 'channelId');
          await auditTrail.record(trx, who(actor), {
            action: 'routing.default_team.set',
            targetType: 'channel',
            targetId: channelId,
            details: { from: before.defaultTeamId, to: teamId },
          });
          return after;
        }),
      );
      await changed();
      return site;
    },

    /** "Test this rule": which rule a sample visitor and message would hit, and why not the earlier ones. */
    async test(actor: Actor, body: TestBody) {
      authorize(actor, 'routing.read');
      // Read from the database, not the cache: the answer reflects every committed change.
      const site = (await websites.websites(db)).find((s) => s.channelId === body.channelId);
      if (!site) throw new BadRequestError('channelId: no such website', 'channelId');
      const rules = (await repo.listRules(db, body.channelId)).map(compile);
      const { hit, trace } = evaluate(rules, {
        pageUrl: body.pageUrl ?? null,
        language: body.language ?? null,
        tags: body.tags ?? [],
        attributes: body.attributes ?? {},
        message: body.message ?? '',
      });
      const target: RouteTarget = hit
        ? hit.target
        : { teamId: site.defaultTeamId, priority: 'normal', preferredAgentId: null, ruleId: null };
      return { target, trace, usedDefault: hit === null };
    },

    /** Teams module's delete check: rules that send to the team, websites defaulting to it. */
    async usesOfTeam(trx: Executor, teamId: string): Promise<TeamUsage[]> {
      const rules = await repo.rulesOfTeam(trx, teamId);
      const sites = (await websites.websites(trx)).filter((s) => s.defaultTeamId === teamId);
      return [
        ...rules.map((r) => ({ kind: 'routing_rule', id: r.id, name: r.name })),
        ...sites.map((s) => ({ kind: 'website_default_team', id: s.channelId, name: s.name })),
      ];
    },

    /**
     * What the widget reported when the conversation started (conversations.service calls this in
     * the transaction that creates the conversation). Only a well-formed language tag is kept.
     */
    async rememberVisitor(trx: Executor, conversationId: string, context: { language?: string | undefined }) {
      const language = context.language && LANGUAGE_TAG.test(context.language) ? context.language : null;
      if (language === null) return;
      await repo.insertVisitorContext(trx, conversationId, language);
    },

    /** The visitor's language as the widget reported it (RoutingInput.language), if any. */
    async languageOf(conversationId: string): Promise<string | null> {
      return (await repo.languageOf(db, conversationId))?.language ?? null;
    },
  };
}

export type RoutingRulesService = ReturnType<typeof createRoutingRulesService>;
export { PRIORITIES };
