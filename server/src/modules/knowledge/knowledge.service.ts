// The knowledge base: FAQ entries (standard question, similar questions, answer with links and
// images, quick replies, category, tags, scope, validity, enabled), the category tree, synonym
// groups and the domain dictionary.
//
// Who may do what: knowledge.read browses (agents, supervisors, admins); knowledge.manage changes
// anything here (the "knowledge admin": admins and supervisors, docs/SECURITY.md). Every change
// of an entry appends a version row (the entry as it is after the change, who, when) and an
// audit record in the same transaction; after commit a `knowledge` event goes on the bus, which
// the NOTIFY bridge carries to every replica, so matchers everywhere reload what changed.
import type { Transaction } from 'kysely';
import type { AuditTrail } from '../../platform/audit.ts';
import type { Database, DB, Executor } from '../../platform/db/database.ts';
import { ConflictError, NotFoundError } from '../../platform/errors.ts';
import type { KnowledgeChange } from '../../platform/events.ts';
import { authorize, roleHas, type Actor } from '../identity/permissions.ts';
import type { EntryFilter, EntryRow, EntryValues, KnowledgeRepository } from './knowledge.repository.ts';
import {
  cleanAnswer,
  cleanAttachments,
  cleanCategoryName,
  cleanDictionaryWord,
  cleanExternalId,
  cleanQuestion,
  cleanQuickReplies,
  cleanSimilar,
  cleanSynonymWords,
  cleanTags,
  cleanValidity,
  questionKey,
  RuleError,
  type Attachment,
} from './knowledge.rules.ts';

export interface EntryView {
  id: string;
  externalId: string | null;
  question: string;
  similar: string[];
  answer: string;
  attachments: Attachment[];
  quickReplies: string[];
  categoryId: string | null;
  tags: string[];
  /** null: every website/channel. */
  channelIds: string[] | null;
  validFrom: string | null;
  validUntil: string | null;
  enabled: boolean;
  version: number;
  createdAt: string;
  updatedAt: string;
}

/** What a matcher needs of an entry (mapped onto matcher/types.ts at wiring). */
export interface MatchableEntry {
  id: string;
  externalId: string | null;
  question: string;
  similar: string[];
  answer: string;
  /** The category path, "售后/退货"; null when uncategorised. */
  category: string | null;
  enabled: boolean;
  /** null: every website/channel; otherwise only these channel ids. */
  channelIds: string[] | null;
  validFrom: Date | null;
  validUntil: Date | null;
}

export interface EntryPatch {
  question?: string | undefined;
  similar?: string[] | undefined;
  answer?: string | undefined;
  attachments?: { kind: string; url: string; title?: string | undefined }[] | undefined;
  quickReplies?: string[] | undefined;
  categoryId?: string | null | undefined;
  tags?: string[] | undefined;
  channelIds?: string[] | null | undefined;
  validFrom?: string | null | undefined;
  validUntil?: string | null | undefined;
  enabled?: boolean | undefined;
  externalId?: string | null | undefined;
}

export interface CategoryView {
  id: string;
  parentId: string | null;
  name: string;
  position: number;
  entryCount: number;
}

/** Whoever acts: a signed-in person, or the CLI (no session; `parley kb import`). */
export interface KnowledgeActor {
  id: string | null;
  name: string;
  ip: string | null;
  userAgent: string | null;
}

export const actorFrom = (a: Actor): KnowledgeActor => ({
  id: a.userId,
  name: a.username,
  ip: a.ip,
  userAgent: a.userAgent,
});

export function toEntryView(row: EntryRow): EntryView {
  return {
    id: row.id,
    externalId: row.external_id,
    question: row.question,
    similar: row.similar_questions,
    answer: row.answer,
    attachments: row.attachments as unknown as Attachment[],
    quickReplies: row.quick_replies,
    categoryId: row.category_id,
    tags: row.tags,
    channelIds: row.channel_ids,
    validFrom: row.valid_from?.toISOString() ?? null,
    validUntil: row.valid_until?.toISOString() ?? null,
    enabled: row.enabled,
    version: row.version,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

/** The part of an entry a version keeps (what a person edits). */
function snapshotOf(v: EntryView) {
  const { id: _id, version: _v, createdAt: _c, updatedAt: _u, ...rest } = v;
  return rest;
}

const date = (field: string, raw: string | null | undefined): Date | null => {
  if (raw === null || raw === undefined || raw === '') return null;
  const d = new Date(raw);
  if (Number.isNaN(d.getTime())) throw new RuleError(field, 'not a date and time');
  return d;
};

/** Paths of every category, "parent/child", by id. */
export function categoryPaths(cats: { id: string; parent_id: string | null; name: string }[]) {
  const byId = new Map(cats.map((c) => [c.id, c]));
  const paths = new Map<string, string>();
  const pathOf = (id: string, depth = 0): string => {
    const known = paths.get(id);
    if (known !== undefined) return known;
    const c = byId.get(id);
    if (!c) return '';
    const p = c.parent_id && depth < 20 ? `${pathOf(c.parent_id, depth + 1)}/${c.name}` : c.name;
    paths.set(id, p);
    return p;
  };
  for (const c of cats) pathOf(c.id);
  return paths;
}

export function createKnowledgeService(deps: {
  db: Database;
  repo: KnowledgeRepository;
  auditTrail: AuditTrail;
  /** Called after commit: the bus carries it to this replica's listeners and to every other. */
  announce: (change: KnowledgeChange) => void;
}) {
  const { db, repo, auditTrail, announce } = deps;
  const who = (a: KnowledgeActor) => ({ id: a.id, name: a.name, ip: a.ip, userAgent: a.userAgent });

  /** Validates a complete entry; throws a RuleError naming the field. */
  function cleanEntry(input: EntryPatch & { question: string; answer: string }, allowEmptyAnswer = false) {
    const question = cleanQuestion(input.question);
    const validity = cleanValidity(date('validFrom', input.validFrom), date('validUntil', input.validUntil));
    return {
      question,
      questionKey: questionKey(question),
      similar: cleanSimilar(input.similar ?? [], question),
      answer: allowEmptyAnswer && input.answer.trim() === '' ? '' : cleanAnswer(input.answer),
      attachments: cleanAttachments(input.attachments ?? []),
      quickReplies: cleanQuickReplies(input.quickReplies ?? []),
      categoryId: input.categoryId ?? null,
      tags: cleanTags(input.tags ?? []),
      channelIds:
        input.channelIds === undefined || input.channelIds === null ? null : [...new Set(input.channelIds)],
      ...validity,
      enabled: input.enabled ?? true,
      externalId: cleanExternalId(input.externalId),
    } satisfies EntryValues;
  }

  async function assertUnique(trx: Executor, v: EntryValues, exceptId?: string) {
    const dup = await repo.findByQuestionKey(trx, v.questionKey, exceptId);
    if (dup) {
      throw new ConflictError(`question: the standard question "${dup.question}" exists already`, {
        field: 'question',
        existingId: dup.id,
      });
    }
    if (v.externalId !== null) {
      const taken = await repo.findByExternalId(trx, v.externalId, exceptId);
      if (taken) {
        throw new ConflictError(`externalId: "${v.externalId}" belongs to another entry`, {
          field: 'externalId',
          existingId: taken.id,
        });
      }
    }
  }

  async function assertCategory(trx: Executor, id: string | null) {
    if (id !== null && !(await repo.findCategory(trx, id)))
      throw new RuleError('categoryId', 'no such category');
  }

  async function version(
    trx: Executor,
    actor: KnowledgeActor,
    rows: { view: EntryView; action: string }[],
  ): Promise<void> {
    await repo.insertVersions(
      trx,
      rows.map(({ view, action }) => ({
        entryId: view.id,
        version: view.version,
        action,
        snapshot: snapshotOf(view),
        actorId: actor.id,
        actorName: actor.name,
      })),
    );
  }

  const entriesChanged = (ids: string[]) => {
    if (ids.length > 0) announce(ids.length > 150 ? { what: 'all' } : { what: 'entries', ids });
  };

  async function loadCategories() {
    return repo.categories(db);
  }

  const service = {
    mayManage: (actor: Actor) => roleHas(actor.role, 'knowledge.manage'),

    async listEntries(
      actor: Actor,
      query: EntryFilter & { categoryId?: string | undefined; limit?: number; offset?: number },
    ) {
      authorize(actor, 'knowledge.read');
      let categoryIds: string[] | undefined;
      if (query.categoryId) {
        // The category and its descendants.
        const cats = await loadCategories();
        const under = new Set([query.categoryId]);
        let grew = true;
        while (grew) {
          grew = false;
          for (const c of cats) {
            if (c.parent_id && under.has(c.parent_id) && !under.has(c.id)) {
              under.add(c.id);
              grew = true;
            }
          }
        }
        categoryIds = [...under];
      }
      const { rows, total } = await repo.listEntries(
        db,
        { ...query, q: query.q?.trim() || undefined, categoryIds },
        { limit: query.limit ?? 50, offset: query.offset ?? 0 },
      );
      return { entries: rows.map(toEntryView), total, canManage: service.mayManage(actor) };
    },

    async getEntry(actor: Actor, id: string): Promise<EntryView> {
      authorize(actor, 'knowledge.read');
      const row = await repo.findEntry(db, id);
      if (!row) throw new NotFoundError('knowledge base entry');
      return toEntryView(row);
    },

    async createEntry(
      actor: Actor,
      input: EntryPatch & { question: string; answer: string },
    ): Promise<EntryView> {
      authorize(actor, 'knowledge.manage');
      const values = cleanEntry(input);
      const k = actorFrom(actor);
      const view = await db.transaction().execute(async (trx) => {
        await assertCategory(trx, values.categoryId);
        await assertUnique(trx, values);
        const view = toEntryView(await repo.insertEntry(trx, values, k.id));
        await version(trx, k, [{ view, action: 'create' }]);
        await auditTrail.record(trx, who(k), {
          action: 'knowledge.entry.create',
          targetType: 'kb_entry',
          targetId: view.id,
          details: { question: view.question, version: view.version },
        });
        return view;
      });
      entriesChanged([view.id]);
      return view;
    },

    async updateEntry(
      actor: Actor,
      id: string,
      patch: EntryPatch & { expectedVersion?: number | undefined },
    ) {
      authorize(actor, 'knowledge.manage');
      const k = actorFrom(actor);
      const view = await db.transaction().execute(async (trx) => {
        const before = await repo.findEntryForUpdate(trx, id);
        if (!before) throw new NotFoundError('knowledge base entry');
        if (patch.expectedVersion !== undefined && patch.expectedVersion !== before.version) {
          throw new ConflictError(
            `version: someone saved this entry meanwhile (version ${before.version}); reload it first`,
            { field: 'version', version: before.version },
          );
        }
        const old = toEntryView(before);
        const values = cleanEntry({ ...old, ...patch });
        await assertCategory(trx, values.categoryId);
        await assertUnique(trx, values, id);
        const view = toEntryView(await repo.updateEntry(trx, id, values, k.id));
        const oldSnap = snapshotOf(old) as Record<string, unknown>;
        const newSnap = snapshotOf(view) as Record<string, unknown>;
        const changed = Object.keys(newSnap).filter(
          (f) => JSON.stringify(oldSnap[f]) !== JSON.stringify(newSnap[f]),
        );
        await version(trx, k, [{ view, action: 'update' }]);
        await auditTrail.record(trx, who(k), {
          action: 'knowledge.entry.update',
          targetType: 'kb_entry',
          targetId: id,
          details: { question: view.question, version: view.version, changed },
        });
        return view;
      });
      entriesChanged([id]);
      return view;
    },

    async deleteEntry(actor: Actor, id: string): Promise<void> {
      authorize(actor, 'knowledge.manage');
      const k = actorFrom(actor);
      await db.transaction().execute(async (trx) => {
        const before = await repo.findEntryForUpdate(trx, id);
        if (!before) throw new NotFoundError('knowledge base entry');
        const view = { ...toEntryView(before), version: before.version + 1 };
        await version(trx, k, [{ view, action: 'delete' }]);
        await repo.deleteEntry(trx, id);
        await auditTrail.record(trx, who(k), {
          action: 'knowledge.entry.delete',
          targetType: 'kb_entry',
          targetId: id,
          details: { question: before.question, version: view.version },
        });
      });
      entriesChanged([id]);
    },

    /** Enables or disables many entries at once; returns the ids that changed. */
    async setEnabled(actor: Actor, ids: string[], enabled: boolean): Promise<{ changed: string[] }> {
      authorize(actor, 'knowledge.manage');
      const k = actorFrom(actor);
      const unique = [...new Set(ids)];
      const changed = await db.transaction().execute(async (trx) => {
        const rows = await repo.setEnabled(trx, unique, enabled, actor.userId);
        const views = rows.map(toEntryView);
        await version(
          trx,
          k,
          views.map((view) => ({ view, action: enabled ? 'enable' : 'disable' })),
        );
        if (views.length > 0) {
          await auditTrail.record(trx, who(k), {
            action: enabled ? 'knowledge.entry.enable' : 'knowledge.entry.disable',
            targetType: 'kb_entry',
            targetId: views.length === 1 ? views[0]!.id : null,
            details: { count: views.length, ids: views.slice(0, 100).map((v) => v.id) },
          });
        }
        return views.map((v) => v.id);
      });
      entriesChanged(changed);
      return { changed };
    },

    async versions(actor: Actor, id: string) {
      authorize(actor, 'knowledge.read');
      const rows = await repo.versions(db, id);
      if (rows.length === 0 && !(await repo.findEntry(db, id)))
        throw new NotFoundError('knowledge base entry');
      return rows.map((r) => ({
        version: r.version,
        action: r.action,
        snapshot: r.snapshot as Record<string, unknown>,
        actorId: r.actor_id,
        actorName: r.actor_name,
        at: r.created_at.toISOString(),
      }));
    },

    // Categories: a tree (any depth up to LIMITS.categoryDepth via files; unlimited in the console
    // but cycles refused). Deleting one with sub-categories is refused; its entries become
    // uncategorised.

    async listCategories(actor: Actor): Promise<CategoryView[]> {
      authorize(actor, 'knowledge.read');
      return (await loadCategories()).map((c) => ({
        id: c.id,
        parentId: c.parent_id,
        name: c.name,
        position: c.position,
        entryCount: c.entry_count,
      }));
    },

    async createCategory(
      actor: Actor,
      input: { parentId?: string | null | undefined; name: string; position?: number | undefined },
    ) {
      authorize(actor, 'knowledge.manage');
      const name = cleanCategoryName(input.name);
      const parentId = input.parentId ?? null;
      const k = actorFrom(actor);
      return db.transaction().execute(async (trx) => {
        if (parentId && !(await repo.findCategory(trx, parentId)))
          throw new RuleError('parentId', 'no such category');
        const row = await repo.insertCategory(trx, { parentId, name, position: input.position ?? 0 });
        if (!row) throw new ConflictError(`name: "${name}" exists at this level`, { field: 'name' });
        await auditTrail.record(trx, who(k), {
          action: 'knowledge.category.create',
          targetType: 'kb_category',
          targetId: row.id,
          details: { name, parentId },
        });
        return { id: row.id, parentId: row.parent_id, name: row.name, position: row.position, entryCount: 0 };
      });
    },

    async updateCategory(
      actor: Actor,
      id: string,
      patch: {
        parentId?: string | null | undefined;
        name?: string | undefined;
        position?: number | undefined;
      },
    ) {
      authorize(actor, 'knowledge.manage');
      const name = patch.name === undefined ? undefined : cleanCategoryName(patch.name);
      const k = actorFrom(actor);
      await db.transaction().execute(async (trx) => {
        const before = await repo.findCategory(trx, id);
        if (!before) throw new NotFoundError('category');
        const parentId = patch.parentId === undefined ? before.parent_id : patch.parentId;
        if (parentId !== null) {
          // No cycles: the new parent must not be this category or one under it.
          const cats = await repo.categories(trx);
          const parentOf = new Map(cats.map((c) => [c.id, c.parent_id]));
          if (!parentOf.has(parentId)) throw new RuleError('parentId', 'no such category');
          for (let p: string | null | undefined = parentId, n = 0; p && n < 1000; p = parentOf.get(p), n++) {
            if (p === id) throw new RuleError('parentId', 'a category cannot move under itself');
          }
        }
        const finalName = name ?? before.name;
        if (await repo.siblingNamed(trx, parentId, finalName, id)) {
          throw new ConflictError(`name: "${finalName}" exists at this level`, { field: 'name' });
        }
        await repo.updateCategory(trx, id, {
          parent_id: parentId,
          name: finalName,
          ...(patch.position !== undefined ? { position: patch.position } : {}),
        });
        await auditTrail.record(trx, who(k), {
          action: 'knowledge.category.update',
          targetType: 'kb_category',
          targetId: id,
          details: {
            name: { from: before.name, to: finalName },
            parentId: { from: before.parent_id, to: parentId },
          },
        });
      });
      announce({ what: 'all' });
      return (await service.listCategories(actor)).find((c) => c.id === id)!;
    },

    async deleteCategory(actor: Actor, id: string): Promise<void> {
      authorize(actor, 'knowledge.manage');
      const k = actorFrom(actor);
      await db.transaction().execute(async (trx) => {
        const before = await repo.findCategory(trx, id);
        if (!before) throw new NotFoundError('category');
        if (await repo.hasChildren(trx, id)) {
          throw new ConflictError('id: the category has sub-categories; move or delete them first', {
            field: 'id',
          });
        }
        await repo.deleteCategory(trx, id);
        await auditTrail.record(trx, who(k), {
          action: 'knowledge.category.delete',
          targetType: 'kb_category',
          targetId: id,
          details: { name: before.name },
        });
      });
      announce({ what: 'all' });
    },

    // Synonym groups and the dictionary: each change is audited and announced at once.

    async listSynonyms(actor: Actor) {
      authorize(actor, 'knowledge.read');
      return (await repo.synonymGroups(db)).map((g) => ({
        id: g.id,
        words: g.words,
        updatedAt: g.updated_at.toISOString(),
      }));
    },

    async createSynonymGroup(actor: Actor, words: string[]) {
      authorize(actor, 'knowledge.manage');
      const clean = cleanSynonymWords(words);
      const k = actorFrom(actor);
      const row = await db.transaction().execute(async (trx) => {
        const row = await repo.insertSynonymGroup(trx, clean, actor.userId);
        await auditTrail.record(trx, who(k), {
          action: 'knowledge.synonyms.create',
          targetType: 'kb_synonym_group',
          targetId: row.id,
          details: { words: clean },
        });
        return row;
      });
      announce({ what: 'synonyms' });
      return { id: row.id, words: row.words, updatedAt: row.updated_at.toISOString() };
    },

    async updateSynonymGroup(actor: Actor, id: string, words: string[]) {
      authorize(actor, 'knowledge.manage');
      const clean = cleanSynonymWords(words);
      const k = actorFrom(actor);
      const row = await db.transaction().execute(async (trx) => {
        const before = await repo.findSynonymGroup(trx, id);
        if (!before) throw new NotFoundError('synonym group');
        const row = (await repo.updateSynonymGroup(trx, id, clean, actor.userId))!;
        await auditTrail.record(trx, who(k), {
          action: 'knowledge.synonyms.update',
          targetType: 'kb_synonym_group',
          targetId: id,
          details: { words: { from: before.words, to: clean } },
        });
        return row;
      });
      announce({ what: 'synonyms' });
      return { id: row.id, words: row.words, updatedAt: row.updated_at.toISOString() };
    },

    async deleteSynonymGroup(actor: Actor, id: string) {
      authorize(actor, 'knowledge.manage');
      const k = actorFrom(actor);
      await db.transaction().execute(async (trx) => {
        const gone = await repo.deleteSynonymGroup(trx, id);
        if (!gone) throw new NotFoundError('synonym group');
        await auditTrail.record(trx, who(k), {
          action: 'knowledge.synonyms.delete',
          targetType: 'kb_synonym_group',
          targetId: id,
          details: { words: gone.words },
        });
      });
      announce({ what: 'synonyms' });
    },

    async listDictionary(actor: Actor) {
      authorize(actor, 'knowledge.read');
      return (await repo.dictionary(db)).map((w) => ({
        id: w.id,
        word: w.word,
        kind: w.kind as 'product' | 'term',
        createdAt: w.created_at.toISOString(),
      }));
    },

    async addWord(actor: Actor, input: { word: string; kind?: 'product' | 'term' | undefined }) {
      authorize(actor, 'knowledge.manage');
      const word = cleanDictionaryWord(input.word);
      const kind = input.kind ?? 'term';
      const k = actorFrom(actor);
      const row = await db.transaction().execute(async (trx) => {
        const row = await repo.insertWord(trx, word, kind, actor.userId);
        if (!row) throw new ConflictError(`word: "${word}" is in the dictionary already`, { field: 'word' });
        await auditTrail.record(trx, who(k), {
          action: 'knowledge.dictionary.add',
          targetType: 'kb_dictionary',
          targetId: row.id,
          details: { word, kind },
        });
        return row;
      });
      announce({ what: 'dictionary' });
      return {
        id: row.id,
        word: row.word,
        kind: row.kind as 'product' | 'term',
        createdAt: row.created_at.toISOString(),
      };
    },

    async removeWord(actor: Actor, id: string) {
      authorize(actor, 'knowledge.manage');
      const k = actorFrom(actor);
      await db.transaction().execute(async (trx) => {
        const gone = await repo.deleteWord(trx, id);
        if (!gone) throw new NotFoundError('dictionary word');
        await auditTrail.record(trx, who(k), {
          action: 'knowledge.dictionary.remove',
          targetType: 'kb_dictionary',
          targetId: id,
          details: { word: gone.word },
        });
      });
      announce({ what: 'dictionary' });
    },

    // The seam for matchers (one per replica): everything they index, and what one change touched.

    /** Every entry (enabled or not; the matcher filters) with synonym groups and dictionary words. */
    async matchable(): Promise<{ entries: MatchableEntry[]; synonyms: string[][]; dictionary: string[] }> {
      const [rows, cats, groups, words] = await Promise.all([
        repo.allEntries(db),
        repo.categories(db),
        repo.synonymGroups(db),
        repo.dictionary(db),
      ]);
      const paths = categoryPaths(cats);
      return {
        entries: rows.map((r) => toMatchable(r, paths)),
        synonyms: groups.map((g) => g.words),
        dictionary: words.map((w) => w.word),
      };
    },

    /** The current state of these entries; an id missing from the answer was deleted. */
    async matchableEntries(ids: readonly string[]): Promise<MatchableEntry[]> {
      const [rows, cats] = await Promise.all([repo.entriesByIds(db, ids), repo.categories(db)]);
      const paths = categoryPaths(cats);
      return rows.map((r) => toMatchable(r, paths));
    },

    /** Raw rows for the exporter (every entry, oldest first) with category paths. */
    async exportRows(actor: KnowledgeActor | Actor) {
      if ('role' in actor) authorize(actor, 'knowledge.manage');
      const [rows, cats] = await Promise.all([repo.allEntries(db), repo.categories(db)]);
      const paths = categoryPaths(cats);
      return rows.map((r) => ({
        ...toEntryView(r),
        categoryPath: r.category_id ? (paths.get(r.category_id) ?? '') : '',
      }));
    },

    /** For the importer: runs `work` in one transaction and announces a full reload after commit. */
    async inTransaction<T>(work: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
      return db.transaction().execute(work);
    },

    cleanEntry,
    version,
    entriesChanged,
  };
  return service;
}

function toMatchable(r: EntryRow, paths: Map<string, string>): MatchableEntry {
  return {
    id: r.id,
    externalId: r.external_id,
    question: r.question,
    similar: r.similar_questions,
    answer: r.answer,
    category: r.category_id ? (paths.get(r.category_id) ?? null) : null,
    enabled: r.enabled,
    channelIds: r.channel_ids,
    validFrom: r.valid_from,
    validUntil: r.valid_until,
  };
}

export type KnowledgeService = ReturnType<typeof createKnowledgeService>;
