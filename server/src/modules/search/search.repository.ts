// The message search index (migrations/0028): search_changes (the change log written by a
// trigger on messages), search_entries (tokens, GIN) and search_state (the build).
//
// The one place outside the conversations module that reads `messages`: the body, conversation,
// private flag and recall mark of given messages, to index them and to check candidates exactly.
// It never writes messages.
import { sql } from 'kysely';
import type { Database, Executor } from '../../platform/db/database.ts';

/** Advisory lock key of index maintenance (indexer batches and the build): one at a time. */
const INDEX_LOCK = 7_230_023;
const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

export interface SourceMessage {
  id: string;
  conversation_id: string;
  body: string;
  private: boolean;
  recalled_at: Date | null;
}

export interface EntryRow {
  messageId: string;
  conversationId: string;
  private: boolean;
  /** tsvector input text. */
  tokens: string;
}

export function createSearchRepository() {
  return {
    /** Takes the maintenance lock for the current transaction; false when another holds it. */
    async tryLock(db: Executor): Promise<boolean> {
      const { rows } = await sql<{
        ok: boolean;
      }>`select pg_try_advisory_xact_lock(${INDEX_LOCK}) as ok`.execute(db);
      return rows[0]?.ok === true;
    },

    /** Removes the oldest `limit` changes and returns their message ids (committed with the batch). */
    async takeChanges(db: Executor, limit: number): Promise<string[]> {
      const { rows } = await sql<{ message_id: string }>`
        delete from search_changes where ctid = any(array(
          select ctid from search_changes order by id limit ${limit}))
        returning message_id`.execute(db);
      return [...new Set(rows.map((r) => r.message_id))];
    },

    sourceMessages(db: Executor, ids: readonly string[]): Promise<SourceMessage[]> {
      if (ids.length === 0) return Promise.resolve([]);
      return db
        .selectFrom('messages')
        .select(['id', 'conversation_id', 'body', 'private', 'recalled_at'])
        .where('id', '=', sql<string>`any(${ids}::uuid[])`)
        .execute();
    },

    /** The next build batch: messages after `cursor` in id order. */
    sourceAfter(db: Executor, cursor: string | null, limit: number): Promise<SourceMessage[]> {
      return db
        .selectFrom('messages')
        .select(['id', 'conversation_id', 'body', 'private', 'recalled_at'])
        .where('id', '>', cursor ?? ZERO_UUID)
        .orderBy('id')
        .limit(limit)
        .execute();
    },

    /**
     * Writes entries; a message that is gone or recalled by the time this statement runs gets
     * none (a recall committed later queues the message again, and the next batch removes it).
     */
    async upsertEntries(db: Executor, rows: readonly EntryRow[]): Promise<void> {
      if (rows.length === 0) return;
      await sql`
        insert into search_entries (message_id, conversation_id, private, tokens)
        select u.message_id, u.conversation_id, u.private, u.tokens::tsvector
        from unnest(${rows.map((r) => r.messageId)}::uuid[], ${rows.map((r) => r.conversationId)}::uuid[],
          ${rows.map((r) => r.private)}::boolean[], ${rows.map((r) => r.tokens)}::text[])
          as u (message_id, conversation_id, private, tokens)
        join messages m on m.id = u.message_id and m.recalled_at is null
        on conflict (message_id) do update set
          conversation_id = excluded.conversation_id, private = excluded.private, tokens = excluded.tokens`.execute(
        db,
      );
    },

    /**
     * Moves the GIN index's pending list (fastupdate: cheap batched inserts) into the index, so
     * searches never scan a long pending list; done at the end of every batch.
     */
    async flushPending(db: Executor): Promise<void> {
      await sql`select gin_clean_pending_list('search_entries_tokens_idx'::regclass)`.execute(db);
    },

    async analyze(db: Executor): Promise<void> {
      await sql`analyze search_entries`.execute(db);
    },

    async deleteEntries(db: Executor, ids: readonly string[]): Promise<void> {
      if (ids.length === 0) return;
      await db
        .deleteFrom('search_entries')
        .where('message_id', '=', sql<string>`any(${ids}::uuid[])`)
        .execute();
    },

    state(db: Executor) {
      return db.selectFrom('search_state').selectAll().executeTakeFirstOrThrow();
    },

    /** Starts a build from the first message (the existing entries keep serving meanwhile). */
    async startBuild(db: Executor): Promise<void> {
      await db
        .updateTable('search_state')
        .set({
          cursor: ZERO_UUID,
          built: 0,
          started_at: sql<Date>`now()`,
          finished_at: null,
          updated_at: sql<Date>`now()`,
        })
        .execute();
    },

    async advanceBuild(db: Executor, cursor: string | null, added: number, done: boolean): Promise<void> {
      await db
        .updateTable('search_state')
        .set((eb) => ({
          cursor: done ? null : cursor,
          built: eb('built', '+', added),
          complete: done ? true : eb.ref('complete'),
          started_at: eb.fn.coalesce('started_at', sql<Date>`now()`),
          finished_at: done ? sql<Date>`now()` : null,
          updated_at: sql<Date>`now()`,
        }))
        .execute();
    },

    /**
     * Candidate messages for an indexed query, checked exactly, as their conversations: the
     * index hits plus every message still in the change log (the unindexed tail). Both reads run
     * in one snapshot (repeatable read), so a batch the indexer commits meanwhile cannot move a
     * message from the tail to the index unseen. More than `limit` hits: the query is too common
     * for this plan (the caller walks the list instead); only the tail's matches are returned.
     */
    async matchIndexed(
      db: Database,
      q: { tsquery: string; like: string; raw: string; includePrivate: boolean; limit: number },
    ): Promise<{ ids: string[] } | { tooMany: true; tail: string[] }> {
      return db
        .transaction()
        .setIsolationLevel('repeatable read')
        .setAccessMode('read only')
        .execute(async (tx) => {
          const hits = await sql<{ message_id: string }>`
            select e.message_id from search_entries e
            where e.tokens @@ ${q.tsquery}::tsquery ${q.includePrivate ? sql`` : sql`and not e.private`}
            limit ${q.limit + 1}`.execute(tx);
          const tooMany = hits.rows.length > q.limit;
          // One primary-key lookup per candidate (a scalar subquery: never a scan of messages).
          const { rows } = await sql<{ conversation_id: string }>`
            select distinct k.conversation_id from (
              select (select m.conversation_id from messages m where m.id = c.message_id
                and m.recalled_at is null ${q.includePrivate ? sql`` : sql`and not m.private`}
                and (m.body ilike ${q.raw} or lower(normalize(m.body, NFKC)) like ${q.like})) as conversation_id
              from (select unnest(${tooMany ? [] : hits.rows.map((r) => r.message_id)}::uuid[]) as message_id
                union select message_id from search_changes) c
            ) k where k.conversation_id is not null`.execute(tx);
          const ids = rows.map((r) => r.conversation_id);
          return tooMany ? { tooMany: true as const, tail: ids } : { ids };
        });
    },

    /** Figures for /metrics and `parley doctor`. */
    async stats(db: Executor) {
      const { rows } = await sql<{
        pending: number;
        oldest: Date | null;
        now: Date;
        index_bytes: string;
        messages_bytes: string;
      }>`
        select
          (select count(*) from (select 1 from search_changes limit 1000000) p)::int as pending,
          (select min(created_at) from search_changes) as oldest,
          now() as now,
          pg_total_relation_size('search_entries')::text as index_bytes,
          pg_total_relation_size('messages')::text as messages_bytes`.execute(db);
      return rows[0]!;
    },
  };
}

export type SearchRepository = ReturnType<typeof createSearchRepository>;
