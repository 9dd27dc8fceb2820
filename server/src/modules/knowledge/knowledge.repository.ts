// Every SQL statement about the knowledge base (tables kb_*).
import { sql } from 'kysely';
import type { Executor } from '../../platform/db/database.ts';
import type { Attachment } from './knowledge.rules.ts';

export const entryColumns = [
  'kb_entries.id',
  'kb_entries.external_id',
  'kb_entries.question',
  'kb_entries.question_key',
  'kb_entries.similar_questions',
  'kb_entries.answer',
  'kb_entries.attachments',
  'kb_entries.quick_replies',
  'kb_entries.category_id',
  'kb_entries.tags',
  'kb_entries.channel_ids',
  'kb_entries.valid_from',
  'kb_entries.valid_until',
  'kb_entries.enabled',
  'kb_entries.version',
  'kb_entries.created_at',
  'kb_entries.updated_at',
] as const;

export interface EntryValues {
  externalId: string | null;
  question: string;
  questionKey: string;
  similar: string[];
  answer: string;
  attachments: Attachment[];
  quickReplies: string[];
  categoryId: string | null;
  tags: string[];
  channelIds: string[] | null;
  validFrom: Date | null;
  validUntil: Date | null;
  enabled: boolean;
}

const columnsOf = (v: EntryValues) => ({
  external_id: v.externalId,
  question: v.question,
  question_key: v.questionKey,
  similar_questions: v.similar,
  answer: v.answer,
  attachments: JSON.stringify(v.attachments),
  quick_replies: v.quickReplies,
  category_id: v.categoryId,
  tags: v.tags,
  channel_ids: v.channelIds,
  valid_from: v.validFrom,
  valid_until: v.validUntil,
  enabled: v.enabled,
});

export interface EntryFilter {
  q?: string | undefined;
  /** The category and everything under it. */
  categoryIds?: string[] | undefined;
  uncategorised?: boolean | undefined;
  enabled?: boolean | undefined;
  tag?: string | undefined;
}

export function createKnowledgeRepository() {
  function filtered(db: Executor, f: EntryFilter) {
    let query = db.selectFrom('kb_entries');
    if (f.q) {
      const like = `%${f.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      query = query.where((eb) =>
        eb.or([
          eb('kb_entries.question', 'ilike', like),
          eb('kb_entries.answer', 'ilike', like),
          eb('kb_entries.external_id', 'ilike', like),
          eb(sql<string>`array_to_string(kb_entries.similar_questions, chr(10))`, 'ilike', like),
        ]),
      );
    }
    if (f.categoryIds) query = query.where('kb_entries.category_id', 'in', f.categoryIds);
    if (f.uncategorised) query = query.where('kb_entries.category_id', 'is', null);
    if (f.enabled !== undefined) query = query.where('kb_entries.enabled', '=', f.enabled);
    if (f.tag) query = query.where(sql<boolean>`${f.tag} = any(kb_entries.tags)`);
    return query;
  }

  return {
    async listEntries(db: Executor, f: EntryFilter, page: { limit: number; offset: number }) {
      const [rows, count] = await Promise.all([
        filtered(db, f)
          .select(entryColumns)
          .orderBy('kb_entries.updated_at', 'desc')
          .orderBy('kb_entries.id')
          .limit(page.limit)
          .offset(page.offset)
          .execute(),
        filtered(db, f)
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow(),
      ]);
      return { rows, total: Number(count.n) };
    },

    allEntries(db: Executor) {
      return db.selectFrom('kb_entries').select(entryColumns).orderBy('created_at').orderBy('id').execute();
    },

    entriesByIds(db: Executor, ids: readonly string[]) {
      if (ids.length === 0) return Promise.resolve([]);
      return db.selectFrom('kb_entries').select(entryColumns).where('id', 'in', ids).execute();
    },

    findEntry(db: Executor, id: string) {
      return db.selectFrom('kb_entries').select(entryColumns).where('id', '=', id).executeTakeFirst();
    },

    findEntryForUpdate(db: Executor, id: string) {
      return db
        .selectFrom('kb_entries')
        .select(entryColumns)
        .where('id', '=', id)
        .forUpdate()
        .executeTakeFirst();
    },

    /** The entry that already has this standard question (or external key), other than `exceptId`. */
    findByQuestionKey(db: Executor, key: string, exceptId?: string) {
      let q = db.selectFrom('kb_entries').select(['id', 'question']).where('question_key', '=', key);
      if (exceptId) q = q.where('id', '!=', exceptId);
      return q.executeTakeFirst();
    },

    findByExternalId(db: Executor, externalId: string, exceptId?: string) {
      let q = db.selectFrom('kb_entries').select(['id', 'question']).where('external_id', '=', externalId);
      if (exceptId) q = q.where('id', '!=', exceptId);
      return q.executeTakeFirst();
    },

    /** Keys → ids of every entry, for an import's match-up (a few MB at 100k entries). */
    async keyIndex(db: Executor) {
      const rows = await db.selectFrom('kb_entries').select(['id', 'question_key', 'external_id']).execute();
      return rows;
    },

    entriesByIdsForUpdate(db: Executor, ids: readonly string[]) {
      if (ids.length === 0) return Promise.resolve([]);
      return db.selectFrom('kb_entries').select(entryColumns).where('id', 'in', ids).forUpdate().execute();
    },

    /** Many new entries in one statement, returned in the order given. */
    insertEntries(db: Executor, values: EntryValues[], by: string | null) {
      if (values.length === 0) return Promise.resolve([]);
      return db
        .insertInto('kb_entries')
        .values(values.map((v) => ({ ...columnsOf(v), created_by: by, updated_by: by })))
        .returning(entryColumns)
        .execute();
    },

    insertEntry(db: Executor, values: EntryValues, by: string | null) {
      return db
        .insertInto('kb_entries')
        .values({ ...columnsOf(values), created_by: by, updated_by: by })
        .returning(entryColumns)
        .executeTakeFirstOrThrow();
    },

    updateEntry(db: Executor, id: string, values: EntryValues, by: string | null) {
      return db
        .updateTable('kb_entries')
        .set({
          ...columnsOf(values),
          updated_by: by,
          version: sql<number>`version + 1`,
          updated_at: sql<Date>`now()`,
        })
        .where('id', '=', id)
        .returning(entryColumns)
        .executeTakeFirstOrThrow();
    },

    setEnabled(db: Executor, ids: readonly string[], enabled: boolean, by: string) {
      return db
        .updateTable('kb_entries')
        .set({ enabled, updated_by: by, version: sql<number>`version + 1`, updated_at: sql<Date>`now()` })
        .where('id', 'in', ids)
        .where('enabled', '!=', enabled)
        .returning(entryColumns)
        .execute();
    },

    deleteEntry(db: Executor, id: string) {
      return db.deleteFrom('kb_entries').where('id', '=', id).executeTakeFirst();
    },

    insertVersions(
      db: Executor,
      rows: {
        entryId: string;
        version: number;
        action: string;
        snapshot: unknown;
        actorId: string | null;
        actorName: string | null;
      }[],
    ) {
      if (rows.length === 0) return Promise.resolve();
      return db
        .insertInto('kb_entry_versions')
        .values(
          rows.map((r) => ({
            entry_id: r.entryId,
            version: r.version,
            action: r.action,
            snapshot: JSON.stringify(r.snapshot),
            actor_id: r.actorId,
            actor_name: r.actorName,
          })),
        )
        .execute()
        .then(() => undefined);
    },

    versions(db: Executor, entryId: string) {
      return db
        .selectFrom('kb_entry_versions')
        .select(['version', 'action', 'snapshot', 'actor_id', 'actor_name', 'created_at'])
        .where('entry_id', '=', entryId)
        .orderBy('version', 'desc')
        .execute();
    },

    lastVersion(db: Executor, entryId: string) {
      return db
        .selectFrom('kb_entry_versions')
        .select((eb) => eb.fn.max<number>('version').as('v'))
        .where('entry_id', '=', entryId)
        .executeTakeFirst();
    },

    // Categories

    categories(db: Executor) {
      return db
        .selectFrom('kb_categories')
        .leftJoin(
          db
            .selectFrom('kb_entries')
            .select(['category_id', (eb) => eb.fn.countAll<number>().as('n')])
            .groupBy('category_id')
            .as('counts'),
          'counts.category_id',
          'kb_categories.id',
        )
        .select([
          'kb_categories.id',
          'kb_categories.parent_id',
          'kb_categories.name',
          'kb_categories.position',
          sql<number>`coalesce(counts.n, 0)::int`.as('entry_count'),
        ])
        .orderBy('kb_categories.position')
        .orderBy('kb_categories.name')
        .execute();
    },

    findCategory(db: Executor, id: string) {
      return db
        .selectFrom('kb_categories')
        .select(['id', 'parent_id', 'name', 'position'])
        .where('id', '=', id)
        .executeTakeFirst();
    },

    /** Inserts; undefined when a sibling has that name. */
    insertCategory(db: Executor, v: { parentId: string | null; name: string; position: number }) {
      return db
        .insertInto('kb_categories')
        .values({ parent_id: v.parentId, name: v.name, position: v.position })
        .onConflict((oc) =>
          oc
            .expression(sql`coalesce(parent_id, '00000000-0000-0000-0000-000000000000'::uuid), lower(name)`)
            .doNothing(),
        )
        .returning(['id', 'parent_id', 'name', 'position'])
        .executeTakeFirst();
    },

    siblingNamed(db: Executor, parentId: string | null, name: string, exceptId?: string) {
      let q = db
        .selectFrom('kb_categories')
        .select(['id', 'parent_id', 'name', 'position'])
        .where('parent_id', 'is not distinct from', parentId)
        .where(sql`lower(name)`, '=', name.toLowerCase());
      if (exceptId) q = q.where('id', '!=', exceptId);
      return q.executeTakeFirst();
    },

    updateCategory(
      db: Executor,
      id: string,
      patch: { parent_id?: string | null; name?: string; position?: number },
    ) {
      return db.updateTable('kb_categories').set(patch).where('id', '=', id).executeTakeFirst();
    },

    hasChildren(db: Executor, id: string) {
      return db.selectFrom('kb_categories').select('id').where('parent_id', '=', id).executeTakeFirst();
    },

    deleteCategory(db: Executor, id: string) {
      return db.deleteFrom('kb_categories').where('id', '=', id).executeTakeFirst();
    },

    // Synonyms and dictionary

    synonymGroups(db: Executor) {
      return db
        .selectFrom('kb_synonym_groups')
        .select(['id', 'words', 'updated_at'])
        .orderBy('created_at')
        .orderBy('id')
        .execute();
    },

    findSynonymGroup(db: Executor, id: string) {
      return db
        .selectFrom('kb_synonym_groups')
        .select(['id', 'words', 'updated_at'])
        .where('id', '=', id)
        .executeTakeFirst();
    },

    insertSynonymGroup(db: Executor, words: string[], by: string) {
      return db
        .insertInto('kb_synonym_groups')
        .values({ words, updated_by: by })
        .returning(['id', 'words', 'updated_at'])
        .executeTakeFirstOrThrow();
    },

    updateSynonymGroup(db: Executor, id: string, words: string[], by: string) {
      return db
        .updateTable('kb_synonym_groups')
        .set({ words, updated_by: by, updated_at: sql<Date>`now()` })
        .where('id', '=', id)
        .returning(['id', 'words', 'updated_at'])
        .executeTakeFirst();
    },

    deleteSynonymGroup(db: Executor, id: string) {
      return db
        .deleteFrom('kb_synonym_groups')
        .where('id', '=', id)
        .returning(['id', 'words'])
        .executeTakeFirst();
    },

    dictionary(db: Executor) {
      return db
        .selectFrom('kb_dictionary')
        .select(['id', 'word', 'kind', 'created_at'])
        .orderBy(sql`lower(word)`)
        .execute();
    },

    /** Inserts; undefined when the word is there already. */
    insertWord(db: Executor, word: string, kind: string, by: string) {
      return db
        .insertInto('kb_dictionary')
        .values({ word, kind, created_by: by })
        .onConflict((oc) => oc.expression(sql`lower(word)`).doNothing())
        .returning(['id', 'word', 'kind', 'created_at'])
        .executeTakeFirst();
    },

    deleteWord(db: Executor, id: string) {
      return db.deleteFrom('kb_dictionary').where('id', '=', id).returning(['id', 'word']).executeTakeFirst();
    },

    // Import jobs

    insertImport(
      db: Executor,
      v: { format: string; fileName: string; dryRun: boolean; encoding: string | null; by: string | null },
    ) {
      return db
        .insertInto('kb_imports')
        .values({
          format: v.format,
          file_name: v.fileName,
          dry_run: v.dryRun,
          encoding: v.encoding,
          created_by: v.by,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
    },

    updateImport(
      db: Executor,
      id: string,
      patch: Partial<{
        status: string;
        total: number;
        processed: number;
        created: number;
        updated: number;
        errors: string;
        encoding: string | null;
        finished_at: Date;
      }>,
    ) {
      return db.updateTable('kb_imports').set(patch).where('id', '=', id).executeTakeFirst();
    },

    findImport(db: Executor, id: string) {
      return db.selectFrom('kb_imports').selectAll().where('id', '=', id).executeTakeFirst();
    },
  };
}

export type KnowledgeRepository = ReturnType<typeof createKnowledgeRepository>;
export type EntryRow = NonNullable<Awaited<ReturnType<KnowledgeRepository['findEntry']>>>;
