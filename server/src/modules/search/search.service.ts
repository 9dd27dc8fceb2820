// Message search (docs/SEARCH.md): index maintenance (the change log → entries, the build) and
// the query the conversation list calls. The index only narrows; every hit is checked exactly
// on the message's current text, so results are what a substring match would give.
import { sql, type Expression, type SqlBool } from 'kysely';
import type { Database } from '../../platform/db/database.ts';
import type { SearchRepository, SourceMessage } from './search.repository.ts';
import {
  documentTokens,
  likePattern,
  rawLikePattern,
  queryTerms,
  tsqueryText,
  tsvectorText,
} from './tokenizer.ts';

/**
 * Index hits read for one query. Above this the query is common enough that walking the list in
 * its order and checking each conversation's messages fills a page sooner (docs/SEARCH.md).
 */
export const MAX_INDEX_HITS = 5000;

/** What the conversation list does with a message search. */
export type MessageMatch =
  /** Exactly these conversations have a matching message. */
  | { kind: 'conversations'; ids: string[] }
  /**
   * Too many to list: the list is walked in its order and this condition, on the conversation's
   * id, is checked per conversation until the page is full.
   */
  | { kind: 'condition'; condition: (conversationId: Expression<string>) => Expression<SqlBool> };

/**
 * The exact check on a conversation's messages, scanning them: `body ilike raw`, else the
 * normalised text (full-width → half-width, case). A scalar subquery with LIMIT, not EXISTS: it
 * cannot become a hashed subplan over every message, so the list stops when its page is full.
 */
export function scanCondition(text: string, opts: { includePrivate: boolean }) {
  const like = likePattern(text);
  const raw = rawLikePattern(text);
  return (conv: Expression<string>): Expression<SqlBool> =>
    sql<SqlBool>`coalesce((select true from messages sm where sm.conversation_id = ${conv}
      and sm.recalled_at is null ${opts.includePrivate ? sql`` : sql`and not sm.private`}
      and (sm.body ilike ${raw} or lower(normalize(sm.body, NFKC)) like ${like}) limit 1), false)`;
}

/**
 * The same check through the index: only the conversation's messages whose tokens match are
 * read and checked exactly; `tail` are conversations matched among the not yet indexed messages.
 */
function indexedCondition(q: {
  tsquery: string;
  like: string;
  raw: string;
  includePrivate: boolean;
  tail: string[];
}) {
  return (conv: Expression<string>): Expression<SqlBool> =>
    // OFFSET 0 keeps the entries' read to the conversation's index: without the fence the
    // planner may AND it with the GIN scan of the (common) word, read once per conversation.
    sql<SqlBool>`(coalesce((select true from (select e.message_id, e.tokens, e.private from search_entries e
        where e.conversation_id = ${conv} offset 0) e join messages m on m.id = e.message_id
      where e.tokens @@ ${q.tsquery}::tsquery
        ${q.includePrivate ? sql`` : sql`and not e.private and not m.private`}
        and m.recalled_at is null and (m.body ilike ${q.raw} or lower(normalize(m.body, NFKC)) like ${q.like})
      limit 1), false) or ${conv} = any(${q.tail}::uuid[]))`;
}

/** The interface an external engine (OpenSearch) would also implement; only PostgreSQL exists. */
export interface MessageSearch {
  matchMessages(text: string, opts: { includePrivate: boolean }): Promise<MessageMatch>;
}

export interface BatchResult {
  /** false: another replica (or the CLI) holds the maintenance lock; nothing was done. */
  locked: boolean;
  messages: number;
}

export function createSearchService(deps: { db: Database; repo: SearchRepository; maxIndexHits?: number }) {
  const { db, repo } = deps;
  const maxHits = deps.maxIndexHits ?? MAX_INDEX_HITS;

  function entriesOf(rows: readonly SourceMessage[]) {
    const live = rows.filter((r) => r.recalled_at === null && r.body !== '');
    return live.map((r) => ({
      messageId: r.id,
      conversationId: r.conversation_id,
      private: r.private,
      tokens: tsvectorText(documentTokens(r.body)),
    }));
  }

  return {
    async matchMessages(text: string, opts: { includePrivate: boolean }): Promise<MessageMatch> {
      const like = likePattern(text);
      const raw = rawLikePattern(text);
      const tsquery = tsqueryText(queryTerms(text));
      const scan = { kind: 'condition' as const, condition: scanCondition(text, opts) };
      if (tsquery === null) return scan;
      const state = await repo.state(db);
      // Before the first build finishes, messages outside the index and the change log exist.
      if (!state.complete) return scan;
      const q = { tsquery, like, raw, includePrivate: opts.includePrivate };
      const r = await repo.matchIndexed(db, { ...q, limit: maxHits });
      if ('ids' in r) return { kind: 'conversations', ids: r.ids };
      return { kind: 'condition', condition: indexedCondition({ ...q, tail: r.tail }) };
    },

    /** Indexes the oldest `limit` queued changes in one transaction (and removes them). */
    async indexChanges(limit = 5000): Promise<BatchResult> {
      return db.transaction().execute(async (tx) => {
        if (!(await repo.tryLock(tx))) return { locked: false, messages: 0 };
        const ids = await repo.takeChanges(tx, limit);
        if (ids.length === 0) return { locked: true, messages: 0 };
        const rows = await repo.sourceMessages(tx, ids);
        const entries = entriesOf(rows);
        const keep = new Set(entries.map((e) => e.messageId));
        // Gone, recalled or emptied: no entry (an entry written by a racing batch goes here).
        await repo.deleteEntries(
          tx,
          ids.filter((id) => !keep.has(id)),
        );
        await repo.upsertEntries(tx, entries);
        await repo.flushPending(tx);
        return { locked: true, messages: ids.length };
      });
    },

    /**
     * One batch of the build: the next `limit` messages by id, indexed, the cursor moved in the
     * same transaction (a killed build resumes after the last committed batch).
     */
    async buildBatch(limit = 5000): Promise<BatchResult & { done: boolean }> {
      return db.transaction().execute(async (tx) => {
        if (!(await repo.tryLock(tx))) return { locked: false, messages: 0, done: false };
        const state = await repo.state(tx);
        if (state.complete && state.cursor === null) return { locked: true, messages: 0, done: true };
        const rows = await repo.sourceAfter(tx, state.cursor, limit);
        await repo.upsertEntries(tx, entriesOf(rows));
        await repo.flushPending(tx);
        const done = rows.length < limit;
        await repo.advanceBuild(tx, rows.at(-1)?.id ?? state.cursor, rows.length, done);
        // Fresh statistics for the planner once the table is full (autovacuum would, later).
        if (done) await repo.analyze(tx);
        return { locked: true, messages: rows.length, done };
      });
    },

    /** Starts a build over every message unless one is under way (then it is resumed). */
    async startBuild(): Promise<{ resumed: boolean }> {
      const state = await repo.state(db);
      if (state.cursor !== null || !state.complete) return { resumed: state.cursor !== null };
      await repo.startBuild(db);
      return { resumed: false };
    },

    async status() {
      const [state, stats] = await Promise.all([repo.state(db), repo.stats(db)]);
      return {
        complete: state.complete,
        building: state.cursor !== null || !state.complete,
        built: Number(state.built),
        startedAt: state.started_at,
        finishedAt: state.finished_at,
        pendingChanges: stats.pending,
        lagSeconds: stats.oldest ? Math.max(0, (stats.now.getTime() - stats.oldest.getTime()) / 1000) : 0,
        indexBytes: Number(stats.index_bytes),
        messagesBytes: Number(stats.messages_bytes),
      };
    },
  };
}

export type SearchService = ReturnType<typeof createSearchService>;

/** `parley doctor`'s verdict on the search index (a warning never stops Parley). */
export function searchCheck(s: Awaited<ReturnType<SearchService['status']>>): {
  name: string;
  verdict: 'pass' | 'warn';
  detail: string;
  hint?: string;
} {
  const size = `index ${(s.indexBytes / 1024 / 1024).toFixed(1)} MiB beside ${(s.messagesBytes / 1024 / 1024).toFixed(1)} MiB of messages`;
  if (!s.complete)
    return {
      name: 'search index',
      verdict: 'warn',
      detail: `being built (${s.built} messages so far); until it is complete, message search scans every message`,
      hint: 'run `parley search reindex` (progress, resumable; the server also builds it in the background)',
    };
  if (s.lagSeconds > 60)
    return {
      name: 'search index',
      verdict: 'warn',
      detail: `${s.pendingChanges} message changes wait for the indexer (lag ${Math.round(s.lagSeconds)} s); ${size}`,
      hint: 'is any replica running `parley serve`? Its indexer processes the queue; check its log for "search indexer"',
    };
  return {
    name: 'search index',
    verdict: 'pass',
    detail: `complete, lag ${s.lagSeconds.toFixed(1)} s; ${size}`,
  };
}
