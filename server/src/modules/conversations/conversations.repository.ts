// Every SQL statement about channels, conversations, messages, read state and attachments.
import { scanCondition, type MessageMatch } from '../search/search.service.ts';
import { CompiledQuery, sql, type Expression, type SqlBool } from 'kysely';
import { createPiiProtector, type PiiProtector } from '../../platform/crypto/pii-protector.ts';
import { contactContext } from '../contacts/contacts.repository.ts';
import { createNameMatcher, NAME_SEARCH_WINDOW, normaliseName } from '../contacts/name-search.ts';
import { messageOriginalContext } from './transcript-masking.ts';
import { prepared, type Executor } from '../../platform/db/database.ts';

export const channelColumns = [
  'channels.id',
  'channels.type',
  'channels.name',
  'channels.identity_secret',
  'channels.default_team_id',
  'channels.created_at',
] as const;

const conversationColumns = [
  'c.id',
  'c.channel_id',
  'c.contact_id',
  'c.team_id',
  'c.assignee_id',
  'c.status',
  'c.snoozed_until',
  'c.priority',
  'c.last_seq',
  'c.last_public_seq',
  'c.last_activity_at',
  'c.last_message_preview',
  'c.visitor_read_seq',
  'c.first_response_at',
  'c.resolved_at',
  'c.created_at',
  'c.source_url',
  'c.source_title',
  'ct.name as contact_name',
  'ct.email as contact_email',
  'ct.external_id as contact_external_id',
  'ct.tags as contact_tags',
  'au.display_name as assignee_name',
] as const;

const messageColumns = [
  'm.id',
  'm.conversation_id',
  'm.seq',
  'm.client_id',
  'm.sender_type',
  'm.sender_id',
  'm.kind',
  'm.body',
  'm.private',
  'm.event',
  'm.recalled_at',
  'm.edited_at',
  'm.created_at',
  'm.masked',
  'su.display_name as sender_user_name',
  'a.id as attachment_id',
  'a.file_name as attachment_file_name',
  'a.content_type as attachment_content_type',
  'a.size_bytes as attachment_size_bytes',
] as const;

const NAME_SEARCH_MAX_MATCHES = 500;
/** Contacts matched by a list search beyond which the list tests each contact instead. */
const CONTACT_MATCH_MAX = 5000;

/** Which conversations a reader may see; null = all (admins). */
export interface Scope {
  userId: string;
  teamIds: readonly string[];
  /** Unrouted conversations (no team) are the shared queue every agent and supervisor sees. */
  includeUnrouted: boolean;
}

export interface AppendInput {
  conversationId: string;
  /** Visitor sends are only allowed into the visitor's own conversations. */
  contactId?: string;
  clientId: string | null;
  senderType: 'visitor' | 'agent' | 'bot' | 'system';
  senderId: string | null;
  kind: 'text' | 'image' | 'file' | 'system';
  body: string;
  private: boolean;
  attachmentId: string | null;
  event: Record<string, unknown> | null;
  /** A visitor message reopens a pending, snoozed or resolved conversation. */
  reopen: boolean;
  /** A public agent message sets first_response_at once. */
  agentReply: boolean;
  /** Transcript masking: `body` is the masked text and this the text as typed (sealed apart). */
  original?: string;
  /** Changes to the conversation made in the same statement (assign, status …). */
  patch?: {
    status?: string;
    snoozedUntil?: Date | null;
    assigneeId?: string | null;
    teamId?: string | null;
    priority?: string;
    resolvedAt?: 'now' | null;
  };
}

/** A plain text message (the chat fast path, `parley_append_message`). */
export interface PlainAppendInput {
  conversationId: string;
  /** Set for visitor sends: only into this contact's conversations. */
  contactId: string | null;
  clientId: string;
  senderType: 'visitor' | 'agent';
  senderId: string;
  body: string;
  private: boolean;
  reopen: boolean;
  agentReply: boolean;
  /** An agent who must be able to see the conversation (checked under its row lock); null: no check. */
  visibleTo: string | null;
}

/**
 * parley_append_message's parameters in order, with their SQL types: both append statements
 * (one input, many inputs) are built from this list, so a new parameter cannot be forgotten in
 * one of them (every key of PlainAppendInput must be listed).
 */
const APPEND_PARAM_TYPES = {
  conversationId: 'uuid',
  contactId: 'uuid',
  clientId: 'text',
  senderType: 'text',
  senderId: 'uuid',
  body: 'text',
  private: 'boolean',
  reopen: 'boolean',
  agentReply: 'boolean',
  visibleTo: 'uuid',
} as const satisfies { [K in keyof PlainAppendInput]-?: string };
const APPEND_PARAMS = Object.keys(APPEND_PARAM_TYPES) as (keyof PlainAppendInput)[];
const APPEND_TYPES = Object.values(APPEND_PARAM_TYPES);
const APPEND_ONE_SQL = prepared(
  `select * from parley_append_message(${APPEND_TYPES.map((t, i) => `$${i + 1}::${t}`).join(', ')})`,
);
const APPEND_MANY_SQL = prepared(`select b.ord::int as b_ord, r.*
  from unnest(${APPEND_TYPES.map((t, i) => `$${i + 1}::${t}[]`).join(', ')})
    with ordinality as b(${APPEND_TYPES.map((_, i) => `p${i + 1}`).join(', ')}, ord)
  cross join lateral parley_append_message(${APPEND_TYPES.map((_, i) => `b.p${i + 1}`).join(', ')}) r
  order by b.ord`);

export interface PlainAppendRow {
  r_contact_id: string;
  r_team_id: string | null;
  r_assignee_id: string | null;
  r_status: string;
  r_previous_status: string;
  r_message_id: string;
  r_seq: number;
  r_created_at: Date;
  r_duplicate: boolean;
  r_reopen_message_id: string | null;
  r_reopen_seq: number | null;
  r_reopen_created_at: Date | null;
}

/** The routing of a conversation, then the columns of messageQuery (fixed statements below). */
const ROUTING_AND_MESSAGE_COLUMNS = `c.contact_id as r_contact_id, c.team_id as r_team_id, c.assignee_id as r_assignee_id,
    c.last_seq as r_last_seq,
    m.id, m.conversation_id, m.seq, m.client_id, m.sender_type, m.sender_id, m.kind, m.body, m.private,
    m.event, m.recalled_at, m.edited_at, m.created_at, su.display_name as sender_user_name,
    a.id as attachment_id, a.file_name as attachment_file_name, a.content_type as attachment_content_type,
    a.size_bytes as attachment_size_bytes`;
const MESSAGE_JOINS = `left join users su on su.id = m.sender_id and m.sender_type in ('agent', 'system')
  left join attachments a on a.id = m.attachment_id`;
/** routingAndMessagesAfter. */
const ROUTING_AND_MESSAGES_SQL = prepared(`select ${ROUTING_AND_MESSAGE_COLUMNS}
  from conversations c
  left join lateral (select * from messages m where m.conversation_id = c.id
      and m.seq > case when $6::timestamptz is null then $2 else least($2, coalesce((select o.seq
        from messages o where o.conversation_id = c.id and o.seq <= $2 and o.created_at < $6
        order by o.seq desc limit 1), 0)) end
      and ($3::boolean or not m.private) and ($5::bigint is null or m.seq <= $5)
      order by m.seq limit $4) m on true
  ${MESSAGE_JOINS}
  where c.id = $1
  order by m.seq`);
/** routingAndMessagesAfterMany: the same for many conversations (q_ord = position in the list). */
const ROUTING_AND_MESSAGES_MANY_SQL = prepared(`select q.ord::int as q_ord, ${ROUTING_AND_MESSAGE_COLUMNS}
  from unnest($1::uuid[], $2::bigint[], $3::boolean[]) with ordinality as q(cid, after_seq, include_private, ord)
  join conversations c on c.id = q.cid
  left join lateral (select * from messages m where m.conversation_id = c.id and m.seq > q.after_seq
      and (q.include_private or not m.private) order by m.seq limit $4) m on true
  ${MESSAGE_JOINS}
  order by q.ord, m.seq`);

type RoutingAndMessageRow = {
  r_contact_id: string;
  r_team_id: string | null;
  r_assignee_id: string | null;
  r_last_seq: number;
} & Nullable<MessageRow>;

/** Rows of one conversation → its routing and messages (a conversation without any: one row of nulls). */
function routingAndMessages(conversationId: string, rows: RoutingAndMessageRow[]) {
  const first = rows[0]!;
  return {
    routing: {
      id: conversationId,
      contact_id: first.r_contact_id,
      team_id: first.r_team_id,
      assignee_id: first.r_assignee_id,
      last_seq: Number(first.r_last_seq),
    },
    messages: (first.id === null ? [] : rows) as MessageRow[],
  };
}

type Nullable<T> = { [K in keyof T]: T[K] | null };

export function createConversationsRepository(deps: { pii?: PiiProtector } = {}) {
  const pii = deps.pii ?? createPiiProtector(null);
  /** Contact name and email are stored sealed (key ring): open them for the service. */
  function openRow<
    T extends { contact_id: string; contact_name: string | null; contact_email: string | null },
  >(row: T): T {
    return {
      ...row,
      contact_name: pii.open(contactContext('name', row.contact_id), row.contact_name),
      contact_email: pii.open(contactContext('email', row.contact_id), row.contact_email),
    };
  }

  function conversationQuery(db: Executor) {
    return db
      .selectFrom('conversations as c')
      .innerJoin('contacts as ct', 'ct.id', 'c.contact_id')
      .leftJoin('users as au', 'au.id', 'c.assignee_id')
      .select(conversationColumns);
  }

  /**
   * Partial name search with encrypted names: the NAME_SEARCH_WINDOW most recently active
   * conversations the reader may see (with the list's filters) are fetched, their contact names
   * decrypted in memory and matched by substring. Nothing searchable is stored, so the database
   * reveals no more than before (docs/SECURITY.md says why there is no blind index); the price
   * is that older conversations are found by exact phone/email or message words only.
   */
  async function conversationsWithNameLike(
    query: ReturnType<typeof conversationQuery>,
    search: string,
  ): Promise<string[]> {
    const needle = normaliseName(search);
    const rows = await query
      .clearSelect()
      .select(['c.id', 'c.contact_id', 'ct.name'])
      .where('ct.name', 'is not', null)
      .orderBy('c.last_activity_at', 'desc')
      .limit(NAME_SEARCH_WINDOW)
      .execute();
    const ids: string[] = [];
    for (const r of rows) {
      if (names.matches(r.contact_id, r.name!, needle)) ids.push(r.id);
      if (ids.length === NAME_SEARCH_MAX_MATCHES) break;
    }
    return ids;
  }

  const names = createNameMatcher(pii);

  /** The message side of a list search, as modules/search decided it. */
  function messageCondition(match: MessageMatch): Expression<SqlBool>[] {
    if (match.kind === 'conversations')
      return match.ids.length > 0 ? [sql<SqlBool>`c.id = any(${match.ids}::uuid[])`] : [];
    return [match.condition(sql.ref<string>('c.id'))];
  }

  function messageQuery(db: Executor) {
    return db
      .selectFrom('messages as m')
      .leftJoin('users as su', (j) =>
        j.onRef('su.id', '=', 'm.sender_id').on('m.sender_type', 'in', ['agent', 'system']),
      )
      .leftJoin('attachments as a', 'a.id', 'm.attachment_id')
      .select(messageColumns);
  }

  return {
    defaultWebChannel(db: Executor) {
      return db
        .selectFrom('channels')
        .select(channelColumns)
        .where('type', '=', 'web_widget')
        .orderBy('created_at')
        .limit(1)
        .executeTakeFirst();
    },
    findChannel(db: Executor, id: string) {
      return db.selectFrom('channels').select(channelColumns).where('id', '=', id).executeTakeFirst();
    },
    listChannels(db: Executor) {
      return db.selectFrom('channels').select(channelColumns).orderBy('created_at').execute();
    },

    async findConversation(db: Executor, id: string) {
      const row = await conversationQuery(db).where('c.id', '=', id).executeTakeFirst();
      return row && openRow(row);
    },
    findConversationForUpdate(db: Executor, id: string) {
      return db
        .selectFrom('conversations')
        .select(['id', 'contact_id', 'team_id', 'assignee_id', 'status', 'last_seq'])
        .where('id', '=', id)
        .forUpdate()
        .executeTakeFirst();
    },
    async conversationsOfContact(db: Executor, contactId: string) {
      const rows = await conversationQuery(db)
        .where('c.contact_id', '=', contactId)
        .orderBy('c.created_at', 'desc')
        .limit(100)
        .execute();
      return rows.map(openRow);
    },
    latestUnresolvedOfContact(db: Executor, contactId: string, channelId: string) {
      return db
        .selectFrom('conversations')
        .select('id')
        .where('contact_id', '=', contactId)
        .where('channel_id', '=', channelId)
        .where('status', '!=', 'resolved')
        .orderBy('created_at', 'desc')
        .limit(1)
        .executeTakeFirst();
    },
    insertConversation(
      db: Executor,
      v: {
        channelId: string;
        contactId: string;
        teamId: string | null;
        sourcePage?: { url: string; title?: string } | undefined;
      },
    ) {
      return db
        .insertInto('conversations')
        .values({
          channel_id: v.channelId,
          contact_id: v.contactId,
          team_id: v.teamId,
          source_url: v.sourcePage?.url ?? null,
          source_title: v.sourcePage?.title || null,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
    },
    deleteConversation(db: Executor, id: string) {
      return db
        .deleteFrom('conversations')
        .where('id', '=', id)
        .returning(['id', 'contact_id'])
        .executeTakeFirst();
    },

    /**
     * Conversations a reader may see, newest first, keyset-paginated on (sort_at, id): active
     * conversations (open, pending, snoozed) by last activity, resolved ones by the time they
     * were resolved. No index holds last_activity_at (a message then updates its conversation
     * without touching any index, migrations/0018): the active set is bounded and found by
     * team/assignee/status and sorted in memory; the resolved set, which grows without bound,
     * is walked through its (resolved_at, id) index. Includes the reader's unread count
     * (visitor messages after their read-up-to seq).
     */
    async listConversations(
      db: Executor,
      q: {
        scope: Scope | null;
        userId: string;
        status?: string | undefined;
        assignee?: { kind: 'user'; id: string } | { kind: 'none' } | undefined;
        teamIds?: readonly string[] | undefined;
        contactId?: string | undefined;
        search?: string | undefined;
        /** How `search` matches messages (modules/search): given conversations, or a scan. */
        messageMatch?: MessageMatch | undefined;
        after?: { at: Date; id: string } | undefined;
        limit: number;
      },
    ) {
      let query = conversationQuery(db)
        .leftJoin('conversation_reads as r', (j) =>
          j.onRef('r.conversation_id', '=', 'c.id').on('r.user_id', '=', q.userId),
        )
        .select((eb) => [
          eb.fn.coalesce('r.read_seq', sql<number>`0`).as('read_seq'),
          eb
            .selectFrom('messages as um')
            .select(eb.fn.countAll<number>().as('n'))
            .whereRef('um.conversation_id', '=', 'c.id')
            .where('um.sender_type', '=', 'visitor')
            .where('um.seq', '>', eb.fn.coalesce('r.read_seq', sql<number>`0`))
            .as('unread'),
        ]);
      if (q.scope) {
        const scope = q.scope;
        query = query.where((eb) => {
          const ors: Expression<SqlBool>[] = [eb('c.assignee_id', '=', scope.userId)];
          if (scope.teamIds.length > 0) ors.push(eb('c.team_id', 'in', scope.teamIds));
          if (scope.includeUnrouted) ors.push(eb('c.team_id', 'is', null));
          return eb.or(ors);
        });
      }
      if (q.status) query = query.where('c.status', '=', q.status);
      if (q.contactId) query = query.where('c.contact_id', '=', q.contactId);
      if (q.assignee?.kind === 'user') query = query.where('c.assignee_id', '=', q.assignee.id);
      if (q.assignee?.kind === 'none') query = query.where('c.assignee_id', 'is', null);
      if (q.teamIds) {
        if (q.teamIds.length === 0) return Promise.resolve([]);
        query = query.where('c.team_id', 'in', q.teamIds);
      }
      if (q.search) {
        const like = `%${q.search.replace(/[\\%_]/g, (m) => `\\${m}`)}%`;
        const search = q.search;
        // Encrypted contact fields cannot be searched by substring in SQL: exact phone/email
        // through the keyed-hash lookup columns, and names by decrypting a bounded window.
        const emailHash = pii.enabled ? pii.lookup('email', search) : null;
        const phoneHash = pii.enabled ? pii.lookup('phone', search) : null;
        const byName = pii.enabled ? await conversationsWithNameLike(query, search) : [];
        // The contacts that match, found first (a lookup or one pass over contacts), so the list
        // reads only their conversations instead of testing every conversation's contact.
        const contacts = await db
          .selectFrom('contacts as ct')
          .select('ct.id')
          .where((eb) =>
            pii.enabled
              ? eb.or([
                  eb('ct.email_lookup', '=', emailHash ?? ''),
                  eb('ct.phone_lookup', '=', phoneHash ?? ''),
                ])
              : eb.or([
                  eb('ct.name', 'ilike', like),
                  eb('ct.email', 'ilike', like),
                  eb('ct.phone', 'ilike', like),
                ]),
          )
          .limit(CONTACT_MATCH_MAX + 1)
          .execute();
        const contactIds = contacts.map((r) => r.id);
        query = query.where((eb) =>
          eb.or([
            ...(contactIds.length > CONTACT_MATCH_MAX
              ? [eb('ct.name', 'ilike', like), eb('ct.email', 'ilike', like), eb('ct.phone', 'ilike', like)]
              : contactIds.length > 0
                ? [sql<SqlBool>`c.contact_id = any(${contactIds}::uuid[])`]
                : []),
            ...(byName.length > 0 ? [eb('c.id', 'in', byName)] : []),
            ...messageCondition(
              q.messageMatch ?? {
                kind: 'condition',
                condition: scanCondition(search, { includePrivate: true }),
              },
            ),
          ]),
        );
      }
      const base = query;
      const part = (kind: 'active' | 'resolved') => {
        const key = kind === 'active' ? sql.ref<Date>('c.last_activity_at') : sql.ref<Date>('c.resolved_at');
        let p = base.where('c.status', kind === 'active' ? '!=' : '=', 'resolved').select(key.as('sort_at'));
        if (q.after) p = p.where(sql<SqlBool>`(${key}, c.id) < (${q.after.at}, ${q.after.id}::uuid)`);
        return p.orderBy(key, 'desc').orderBy('c.id', 'desc').limit(q.limit);
      };
      let rows;
      if (q.status === 'resolved') rows = await part('resolved').execute();
      else if (q.status) rows = await part('active').execute();
      else {
        // Both sets, each with its own order and index, merged.
        rows = await db
          .selectFrom(
            db
              .selectFrom(part('active').as('a'))
              .selectAll()
              .unionAll(db.selectFrom(part('resolved').as('r')).selectAll())
              .as('u'),
          )
          .selectAll()
          .orderBy('u.sort_at', 'desc')
          .orderBy('u.id', 'desc')
          .limit(q.limit)
          .execute();
      }
      return rows.map(openRow);
    },

    /**
     * Appends one message: bumps conversations.last_seq under the row lock (gap-free seq,
     * rolled back with the transaction) and inserts the row. Returns null when the
     * conversation does not exist (or is not the given contact's), and { duplicate: true }
     * when the client id was already used in this conversation (the caller rolls back).
     */
    async appendMessage(db: Executor, input: AppendInput) {
      const p = input.patch ?? {};
      const preview = input.kind === 'text' ? input.body.slice(0, 140) : `[${input.kind}]`;
      const visibleToVisitor = !input.private;
      // One statement (one round trip): lock and bump the conversation, insert the message
      // with the new seq. A client id already used in this conversation inserts nothing
      // (message_id null): the caller rolls the transaction back, and the bump with it.
      const { rows } = await sql<{
        id: string;
        contact_id: string;
        team_id: string | null;
        assignee_id: string | null;
        status: string;
        last_seq: number;
        previous_status: string;
        previous_team_id: string | null;
        previous_assignee_id: string | null;
        message_id: string | null;
        created_at: Date | null;
      }>`
        with old as (
          select id, status, team_id, assignee_id from conversations
          where id = ${input.conversationId}
          ${input.contactId ? sql`and contact_id = ${input.contactId}` : sql``}
          for update
        ),
        bump as (
          update conversations c set
            last_seq = c.last_seq + 1,
            last_public_seq = case when ${visibleToVisitor} then c.last_seq + 1 else c.last_public_seq end,
            last_activity_at = now(),
            updated_at = now(),
            last_message_preview = case when ${visibleToVisitor} and ${input.kind !== 'system'}
              then ${preview} else c.last_message_preview end,
            status = ${p.status !== undefined ? sql`${p.status}` : input.reopen ? sql`'open'` : sql`c.status`},
            snoozed_until = ${
              p.snoozedUntil !== undefined
                ? sql`${p.snoozedUntil}::timestamptz`
                : input.reopen
                  ? sql`null`
                  : sql`c.snoozed_until`
            },
            resolved_at = ${
              p.resolvedAt === 'now'
                ? sql`now()`
                : p.resolvedAt === null || input.reopen
                  ? sql`null`
                  : sql`c.resolved_at`
            },
            assignee_id = ${p.assigneeId !== undefined ? sql`${p.assigneeId}::uuid` : sql`c.assignee_id`},
            team_id = ${p.teamId !== undefined ? sql`${p.teamId}::uuid` : sql`c.team_id`},
            priority = ${p.priority !== undefined ? sql`${p.priority}` : sql`c.priority`},
            first_response_at = case when ${input.agentReply} and c.first_response_at is null
              then now() else c.first_response_at end
          from old where c.id = old.id
          returning c.id, c.contact_id, c.team_id, c.assignee_id, c.status, c.last_seq,
            old.status as previous_status, old.team_id as previous_team_id,
            old.assignee_id as previous_assignee_id
        ),
        ins as (
          insert into messages (conversation_id, seq, client_id, sender_type, sender_id, kind, body,
            private, attachment_id, event)
          select bump.id, bump.last_seq, ${input.clientId}::text, ${input.senderType}, ${input.senderId}::uuid,
            ${input.kind}, ${input.body}, ${input.private}::boolean, ${input.attachmentId}::uuid,
            ${input.event === null ? null : JSON.stringify(input.event)}::jsonb
          from bump
          on conflict on constraint messages_client_id_key do nothing
          returning id, created_at
        )
        select bump.*, ins.id as message_id, ins.created_at from bump left join ins on true`.execute(db);
      const conv = rows[0];
      if (!conv) return null;
      if (!conv.message_id || !conv.created_at) return { duplicate: true as const };
      return {
        duplicate: false as const,
        messageId: conv.message_id,
        createdAt: conv.created_at,
        conversation: conv,
      };
    },

    /**
     * The fast path for a plain text message: one statement, no explicit transaction (see
     * migrations/0012). Returns null when the conversation does not exist (or is not the
     * contact's); duplicate = true when the client id was already stored.
     */
    async appendPlainMessage(db: Executor, input: PlainAppendInput): Promise<PlainAppendRow | null> {
      const { rows } = await db.executeQuery<PlainAppendRow>(
        CompiledQuery.raw(
          APPEND_ONE_SQL,
          APPEND_PARAMS.map((k) => input[k]),
        ),
      );
      return rows[0] ?? null;
    },

    /**
     * Several plain appends in ONE statement: one round trip, one transaction, one commit for
     * all (group commit). `parley_append_message` runs once per input, in the given order, each
     * under its conversation's row lock (held until the statement commits); a later input sees
     * what an earlier one inserted, so a resend within the batch is still a duplicate. All or
     * nothing: if any input fails the whole statement rolls back. Result i is input i's row, or
     * null when the function returned nothing for it (no such conversation, or not the sender's).
     */
    async appendPlainMessages(
      db: Executor,
      inputs: readonly PlainAppendInput[],
    ): Promise<(PlainAppendRow | null)[]> {
      const { rows } = await db.executeQuery<PlainAppendRow & { b_ord: number }>(
        CompiledQuery.raw(
          APPEND_MANY_SQL,
          APPEND_PARAMS.map((k) => inputs.map((i) => i[k])),
        ),
      );
      const out: (PlainAppendRow | null)[] = inputs.map(() => null);
      for (const { b_ord, ...row } of rows) out[b_ord - 1] = row;
      return out;
    },

    findMessageByClientId(db: Executor, conversationId: string, clientId: string) {
      return messageQuery(db)
        .where('m.conversation_id', '=', conversationId)
        .where('m.client_id', '=', clientId)
        .executeTakeFirst();
    },
    findMessage(db: Executor, id: string) {
      return messageQuery(db).where('m.id', '=', id).executeTakeFirst();
    },
    findMessageForUpdate(db: Executor, id: string) {
      return db
        .selectFrom('messages')
        .select([
          'id',
          'conversation_id',
          'sender_type',
          'sender_id',
          'kind',
          'body',
          'private',
          'recalled_at',
          'created_at',
          'masked',
        ])
        .where('id', '=', id)
        .forUpdate()
        .executeTakeFirst();
    },
    markRecalled(db: Executor, id: string) {
      return db
        .updateTable('messages')
        .set({ recalled_at: sql<Date>`now()` })
        .where('id', '=', id)
        .execute();
    },
    /**
     * The list preview after a recall or an edit: the latest message the visitor may see (not a
     * system line, not recalled), as appendMessage writes it. Heap-only like every preview write.
     */
    async refreshPreview(db: Executor, conversationId: string) {
      await sql`update conversations c set last_message_preview = coalesce((
          select case when m.kind = 'text' then left(m.body, 140) else '[' || m.kind || ']' end
          from messages m
          where m.conversation_id = c.id and not m.private and m.kind <> 'system' and m.recalled_at is null
          order by m.seq desc limit 1), '')
        where c.id = ${conversationId}`.execute(db);
    },
    editBody(db: Executor, id: string, body: string) {
      return db
        .updateTable('messages')
        .set({ body, edited_at: sql<Date>`now()` })
        .where('id', '=', id)
        .execute();
    },

    /**
     * Transcript masking: marks the message masked and seals the text as typed into
     * message_originals (replacing an earlier one, as an edit does); null = not masked. Without a
     * key ring nothing is kept: a masked message then has no original to reveal.
     */
    async setMessageOriginal(db: Executor, messageId: string, original: string | null) {
      await db
        .updateTable('messages')
        .set({ masked: original !== null })
        .where('id', '=', messageId)
        .execute();
      if (original === null || !pii.enabled) {
        await db.deleteFrom('message_originals').where('message_id', '=', messageId).execute();
        return;
      }
      const sealed = pii.seal(messageOriginalContext(messageId), original)!;
      await db
        .insertInto('message_originals')
        .values({ message_id: messageId, original_enc: sealed })
        .onConflict((oc) => oc.column('message_id').doUpdateSet({ original_enc: sealed }))
        .execute();
    },
    /** A message's conversation, masked flag and opened original (null when none is kept). */
    async findMessageOriginal(db: Executor, messageId: string) {
      const row = await db
        .selectFrom('messages as m')
        .leftJoin('message_originals as o', 'o.message_id', 'm.id')
        .select(['m.id', 'm.conversation_id', 'm.masked', 'o.original_enc'])
        .where('m.id', '=', messageId)
        .executeTakeFirst();
      if (!row) return undefined;
      return {
        id: row.id,
        conversation_id: row.conversation_id,
        masked: row.masked,
        original: pii.open(messageOriginalContext(row.id), row.original_enc),
      };
    },

    /** Messages after a seq (ascending), optionally up to a seq. */
    messagesAfter(
      db: Executor,
      conversationId: string,
      afterSeq: number,
      opts: { uptoSeq?: number; limit: number; includePrivate: boolean; createdSince?: Date },
    ) {
      let q = messageQuery(db).where('m.conversation_id', '=', conversationId).where('m.seq', '>', afterSeq);
      if (opts.uptoSeq !== undefined) q = q.where('m.seq', '<=', opts.uptoSeq);
      if (opts.createdSince !== undefined) q = q.where('m.created_at', '>=', opts.createdSince);
      if (!opts.includePrivate) q = q.where('m.private', '=', false);
      return q.orderBy('m.seq', 'asc').limit(opts.limit).execute();
    },
    /**
     * A conversation's routing and its messages after a seq, in ONE round trip: a resuming
     * socket's access check (made by the caller before anything is sent) with its first replay
     * page, or what a replica must deliver after a notification. undefined when the
     * conversation does not exist. With `createdSince` the range also reaches down below
     * afterSeq to every message created since then (from just after the last one created
     * before it): what a socket that connected at that time may not have yet.
     */
    async routingAndMessagesAfter(
      db: Executor,
      conversationId: string,
      afterSeq: number,
      opts: {
        limit: number;
        includePrivate: boolean;
        uptoSeq?: number | undefined;
        createdSince?: Date | undefined;
      },
    ) {
      const { rows } = await db.executeQuery<RoutingAndMessageRow>(
        CompiledQuery.raw(ROUTING_AND_MESSAGES_SQL, [
          conversationId,
          afterSeq,
          opts.includePrivate,
          opts.limit,
          opts.uptoSeq ?? null,
          opts.createdSince ?? null,
        ]),
      );
      return rows.length === 0 ? undefined : routingAndMessages(conversationId, rows);
    },
    /** routingAndMessagesAfter for many conversations in one statement; result i for request i. */
    async routingAndMessagesAfterMany(
      db: Executor,
      requests: readonly { conversationId: string; afterSeq: number; includePrivate: boolean }[],
      limit: number,
    ) {
      const { rows } = await db.executeQuery<RoutingAndMessageRow & { q_ord: number }>(
        CompiledQuery.raw(ROUTING_AND_MESSAGES_MANY_SQL, [
          requests.map((r) => r.conversationId),
          requests.map((r) => r.afterSeq),
          requests.map((r) => r.includePrivate),
          limit,
        ]),
      );
      const byOrd = new Map<number, RoutingAndMessageRow[]>();
      for (const { q_ord, ...row } of rows) {
        let list = byOrd.get(q_ord);
        if (!list) byOrd.set(q_ord, (list = []));
        list.push(row);
      }
      return requests.map((r, i) => {
        const list = byOrd.get(i + 1);
        return list ? routingAndMessages(r.conversationId, list) : undefined;
      });
    },
    /** Messages before a seq (returned ascending), for scrolling back. */
    async messagesBefore(
      db: Executor,
      conversationId: string,
      beforeSeq: number,
      opts: { limit: number; includePrivate: boolean },
    ) {
      let q = messageQuery(db).where('m.conversation_id', '=', conversationId).where('m.seq', '<', beforeSeq);
      if (!opts.includePrivate) q = q.where('m.private', '=', false);
      const rows = await q.orderBy('m.seq', 'desc').limit(opts.limit).execute();
      return rows.reverse();
    },

    /** Conversations with activity since a time, with their last seq (the catch-up safety net). */
    activitySince(db: Executor, since: Date) {
      // From the messages (their created_at index): conversations.last_activity_at has no index.
      return db
        .selectFrom('messages')
        .select((eb) => ['conversation_id as id', eb.fn.max<number>('seq').as('last_seq')])
        .where('created_at', '>=', since)
        .groupBy('conversation_id')
        .execute();
    },
    setAgentRead(db: Executor, conversationId: string, userId: string, seq: number) {
      return db
        .insertInto('conversation_reads')
        .values({ conversation_id: conversationId, user_id: userId, read_seq: seq })
        .onConflict((oc) =>
          oc.columns(['conversation_id', 'user_id']).doUpdateSet({
            read_seq: sql<number>`greatest(conversation_reads.read_seq, excluded.read_seq)`,
            updated_at: sql<Date>`now()`,
          }),
        )
        .returning('read_seq')
        .executeTakeFirstOrThrow();
    },
    setVisitorRead(db: Executor, conversationId: string, contactId: string, seq: number) {
      return db
        .updateTable('conversations')
        .set({ visitor_read_seq: sql<number>`greatest(visitor_read_seq, least(${seq}, last_seq))` })
        .where('id', '=', conversationId)
        .where('contact_id', '=', contactId)
        .returning('visitor_read_seq')
        .executeTakeFirst();
    },
    agentReadSeq(db: Executor, conversationId: string, userId: string) {
      return db
        .selectFrom('conversation_reads')
        .select('read_seq')
        .where('conversation_id', '=', conversationId)
        .where('user_id', '=', userId)
        .executeTakeFirst();
    },
    /** The highest read-up-to seq of any agent (what the visitor sees as "read"). */
    maxAgentReadSeq(db: Executor, conversationId: string) {
      return db
        .selectFrom('conversation_reads')
        .select((eb) => eb.fn.max<number>('read_seq').as('seq'))
        .where('conversation_id', '=', conversationId)
        .executeTakeFirst();
    },

    insertAttachment(
      db: Executor,
      v: {
        id: string;
        conversationId: string;
        uploaderType: 'visitor' | 'agent';
        uploaderId: string;
        fileName: string;
        contentType: string;
        data: Buffer;
        sha256: Buffer;
        /** Set when the bytes are already a durable file on the volume (then not in the row). */
        storageKey: string | null;
      },
    ) {
      return db
        .insertInto('attachments')
        .values({
          id: v.id,
          conversation_id: v.conversationId,
          uploader_type: v.uploaderType,
          uploader_id: v.uploaderId,
          file_name: v.fileName,
          content_type: v.contentType,
          size_bytes: v.data.length,
          sha256: v.sha256,
          storage: v.storageKey ? 'volume' : 'database',
          storage_key: v.storageKey,
          data: v.storageKey ? null : v.data,
        })
        .returning(['id', 'file_name', 'content_type', 'size_bytes'])
        .executeTakeFirstOrThrow();
    },
    findAttachment(db: Executor, id: string) {
      return db
        .selectFrom('attachments')
        .select([
          'id',
          'conversation_id',
          'file_name',
          'content_type',
          'size_bytes',
          'storage',
          'storage_key',
          'data',
        ])
        .where('id', '=', id)
        .executeTakeFirst();
    },
    /** Whether the attachment belongs to a message the visitor may see. */
    attachmentVisibleToVisitor(db: Executor, attachmentId: string) {
      return db
        .selectFrom('messages')
        .select('id')
        .where('attachment_id', '=', attachmentId)
        .where('private', '=', false)
        .where('recalled_at', 'is', null)
        .executeTakeFirst();
    },

    userForAssignment(db: Executor, userId: string) {
      return db
        .selectFrom('users')
        .select(['id', 'display_name', 'role', 'disabled_at'])
        .where('id', '=', userId)
        .executeTakeFirst();
    },
    teamIdsOfUser(db: Executor, userId: string) {
      return db.selectFrom('team_members').select('team_id').where('user_id', '=', userId).execute();
    },
    routingsOf(db: Executor, ids: readonly string[]) {
      if (ids.length === 0) return Promise.resolve([]);
      return db
        .selectFrom('conversations')
        .select(['id', 'team_id', 'assignee_id'])
        .where('id', 'in', ids)
        .execute();
    },
    teamExists(db: Executor, teamId: string) {
      return db.selectFrom('teams').select('id').where('id', '=', teamId).executeTakeFirst();
    },
    // ---- routing support (modules/routing reads these through the service) ----
    /** Facts routing decides on: state, routing, channel default team, the first visitor text. */
    routingFacts(db: Executor, ids: readonly string[]) {
      if (ids.length === 0) return Promise.resolve([]);
      return db
        .selectFrom('conversations as c')
        .innerJoin('channels as ch', 'ch.id', 'c.channel_id')
        .select([
          'c.id',
          'c.channel_id',
          'c.contact_id',
          'c.team_id',
          'c.assignee_id',
          'c.status',
          'c.source_url',
          'c.created_at',
          'ch.default_team_id',
        ])
        .select((eb) =>
          eb
            .selectFrom('messages as m')
            .select('m.body')
            .whereRef('m.conversation_id', '=', 'c.id')
            .where('m.sender_type', '=', 'visitor')
            .orderBy('m.seq')
            .limit(1)
            .as('first_visitor_text'),
        )
        .where('c.id', 'in', ids)
        .execute();
    },
    /** Open and pending conversations held by each agent (their load). */
    loadOf(db: Executor, agentIds: readonly string[]) {
      if (agentIds.length === 0) return Promise.resolve([]);
      return db
        .selectFrom('conversations')
        .select(['assignee_id', (eb) => eb.fn.countAll<string>().as('n')])
        .where('assignee_id', 'in', agentIds)
        .where('status', 'in', ['open', 'pending'])
        .groupBy('assignee_id')
        .execute();
    },
    /** Open conversations without an assignee in which the visitor wrote (the routing sweep). */
    unassignedWithVisitorMessage(db: Executor, limit: number) {
      return db
        .selectFrom('conversations as c')
        .select('c.id')
        .where('c.status', '=', 'open')
        .where('c.assignee_id', 'is', null)
        .where((eb) =>
          eb.exists(
            eb
              .selectFrom('messages as m')
              .select('m.id')
              .whereRef('m.conversation_id', '=', 'c.id')
              .where('m.sender_type', '=', 'visitor'),
          ),
        )
        .limit(limit)
        .execute();
    },
    /** Open or pending conversations an agent holds, with their team. */
    heldBy(db: Executor, agentId: string) {
      return db
        .selectFrom('conversations')
        .select(['id', 'team_id'])
        .where('assignee_id', '=', agentId)
        .where('status', 'in', ['open', 'pending'])
        .execute();
    },
    agentAnsweredSince(db: Executor, conversationId: string, agentId: string, since: Date) {
      return db
        .selectFrom('messages')
        .select('id')
        .where('conversation_id', '=', conversationId)
        .where('sender_type', '=', 'agent')
        .where('sender_id', '=', agentId)
        .where('private', '=', false)
        .where('created_at', '>=', since)
        .limit(1)
        .executeTakeFirst();
    },
    wakeDueSnoozed(db: Executor, limit: number) {
      return db
        .selectFrom('conversations')
        .select('id')
        .where('status', '=', 'snoozed')
        .where('snoozed_until', '<=', sql<Date>`now()`)
        .limit(limit)
        .execute();
    },
  };
}

export type ConversationsRepository = ReturnType<typeof createConversationsRepository>;
export type ConversationRow = NonNullable<Awaited<ReturnType<ConversationsRepository['findConversation']>>>;
export type MessageRow = NonNullable<Awaited<ReturnType<ConversationsRepository['findMessage']>>>;
