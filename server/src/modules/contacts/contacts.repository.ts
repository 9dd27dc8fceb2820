// Every SQL statement about contacts (the customers). Personal fields are sealed here on the
// way in and opened on the way out (platform/crypto/pii-protector.ts), so the rest of the code
// sees plain values and the database holds ciphertext when a key ring is configured.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Executor } from '../../platform/db/database.ts';
import type { PiiProtector } from '../../platform/crypto/pii-protector.ts';
import { messageOriginalContext } from '../conversations/transcript-masking.ts';
import { createNameMatcher, NAME_SEARCH_WINDOW, normaliseName } from './name-search.ts';

export const contactColumns = [
  'contacts.id',
  'contacts.name',
  'contacts.email',
  'contacts.phone',
  'contacts.attributes',
  'contacts.sensitive_enc',
  'contacts.tags',
  'contacts.external_id',
  'contacts.created_at',
  'contacts.updated_at',
] as const;

export interface ContactPatch {
  name?: string | null;
  email?: string | null;
  phone?: string | null;
  attributes?: Record<string, unknown>;
  tags?: string[];
}

/** The encryption context of a contact field: ciphertext only opens in its own row and column. */
export const contactContext = (field: 'name' | 'email' | 'phone' | 'sensitive', id: string) =>
  `contacts.${field}:${id}`;

export function createContactsRepository(deps: {
  pii: PiiProtector;
  sensitiveAttributes: readonly string[];
}) {
  const { pii } = deps;
  const names = createNameMatcher(pii);
  const sensitive = new Set(deps.sensitiveAttributes);

  type Raw = {
    id: string;
    name: string | null;
    email: string | null;
    phone: string | null;
    attributes: unknown;
    sensitive_enc: string | null;
    tags: string[];
    external_id: string | null;
    created_at: Date;
    updated_at: Date;
  };

  function open<T extends Raw | undefined>(row: T) {
    if (!row) return undefined;
    const hidden = row.sensitive_enc
      ? (JSON.parse(pii.open(contactContext('sensitive', row.id), row.sensitive_enc) ?? '{}') as Record<
          string,
          unknown
        >)
      : {};
    return {
      id: row.id,
      name: pii.open(contactContext('name', row.id), row.name),
      email: pii.open(contactContext('email', row.id), row.email),
      phone: pii.open(contactContext('phone', row.id), row.phone),
      attributes: { ...((row.attributes ?? {}) as Record<string, unknown>), ...hidden },
      tags: row.tags,
      external_id: row.external_id,
      created_at: row.created_at,
      updated_at: row.updated_at,
    };
  }

  /** The stored form of a patch: sealed fields, lookup hashes, sensitive attributes apart. */
  function seal(id: string, patch: ContactPatch) {
    const out: Record<string, unknown> = {};
    if (patch.name !== undefined) out.name = pii.seal(contactContext('name', id), patch.name);
    if (patch.email !== undefined) {
      out.email = pii.seal(contactContext('email', id), patch.email);
      out.email_lookup = pii.lookup('email', patch.email);
    }
    if (patch.phone !== undefined) {
      out.phone = pii.seal(contactContext('phone', id), patch.phone);
      out.phone_lookup = pii.lookup('phone', patch.phone);
    }
    if (patch.attributes !== undefined) {
      const plain: Record<string, unknown> = {};
      const hidden: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(patch.attributes))
        (sensitive.has(k) && pii.enabled ? hidden : plain)[k] = v;
      out.attributes = JSON.stringify(plain);
      out.sensitive_enc =
        Object.keys(hidden).length > 0
          ? pii.seal(contactContext('sensitive', id), JSON.stringify(hidden))
          : null;
    }
    if (patch.tags !== undefined) out.tags = patch.tags;
    return out;
  }

  return {
    async findContact(db: Executor, id: string) {
      return open(
        await db.selectFrom('contacts').select(contactColumns).where('id', '=', id).executeTakeFirst(),
      );
    },
    async findByExternalId(db: Executor, externalId: string) {
      return open(
        await db
          .selectFrom('contacts')
          .select(contactColumns)
          .where('external_id', '=', externalId)
          .executeTakeFirst(),
      );
    },
    /** Exact lookup by phone or email (keyed hash when encrypted, plain equality otherwise). */
    async findByLookup(db: Executor, kind: 'email' | 'phone', value: string) {
      const hash = pii.lookup(kind, value);
      const q = db.selectFrom('contacts').select(contactColumns);
      const rows = hash
        ? await q
            .where(kind === 'email' ? 'email_lookup' : 'phone_lookup', '=', hash)
            .limit(50)
            .execute()
        : await q.where(kind, '=', value).limit(50).execute();
      return rows.map((r) => open(r)!);
    },
    /**
     * Contacts whose name contains `text` (case-insensitive). With names encrypted, nothing
     * searchable is stored (docs/SECURITY.md says why there is no blind index): the
     * NAME_SEARCH_WINDOW most recently updated named contacts are decrypted in memory and matched,
     * as the conversation list does; older ones are found by exact email, phone or id.
     */
    async findByNamePart(db: Executor, text: string) {
      if (!pii.enabled) {
        const like = `%${text.replace(/[\\%_]/g, (m) => `\\${m}`)}%`;
        const rows = await db
          .selectFrom('contacts')
          .select(contactColumns)
          .where('name', 'ilike', like)
          .orderBy('updated_at', 'desc')
          .limit(50)
          .execute();
        return rows.map((r) => open(r)!);
      }
      const needle = normaliseName(text);
      const rows = await db
        .selectFrom('contacts')
        .select(contactColumns)
        .where('name', 'is not', null)
        .orderBy('updated_at', 'desc')
        .limit(NAME_SEARCH_WINDOW)
        .execute();
      const found = [];
      for (const r of rows) {
        if (names.matches(r.id, r.name!, needle)) found.push(open(r)!);
        if (found.length === 50) break;
      }
      return found;
    },
    /** Whether part of a name is matched against every contact (not while names are encrypted). */
    get nameSearchComplete() {
      return !pii.enabled;
    },
    async insertContact(
      db: Executor,
      v: { name: string | null; email: string | null; externalId: string | null },
    ) {
      const id = randomUUID();
      const row = await db
        .insertInto('contacts')
        .values({ id, external_id: v.externalId, ...seal(id, { name: v.name, email: v.email }) })
        .returning(contactColumns)
        .executeTakeFirstOrThrow();
      return open(row)!;
    },
    async updateContact(db: Executor, id: string, patch: ContactPatch & { external_id?: string }) {
      // (attributes: a patch replaces the whole set, sensitive ones included)
      const { external_id, ...fields } = patch;
      const row = await db
        .updateTable('contacts')
        .set({
          ...seal(id, fields),
          ...(external_id !== undefined ? { external_id } : {}),
          updated_at: sql<Date>`now()`,
        })
        .where('id', '=', id)
        .returning(contactColumns)
        .executeTakeFirst();
      return open(row);
    },
    /** Moves every conversation of one contact to another (identity verification merge). */
    moveConversations(db: Executor, fromContactId: string, toContactId: string) {
      return db
        .updateTable('conversations')
        .set({ contact_id: toContactId })
        .where('contact_id', '=', fromContactId)
        .execute();
    },
    deleteContact(db: Executor, id: string) {
      return db.deleteFrom('contacts').where('id', '=', id).execute();
    },
    /** Team ids and assignees of a contact's conversations, for visibility checks. */
    conversationScopes(db: Executor, contactId: string) {
      return db
        .selectFrom('conversations')
        .select(['team_id', 'assignee_id'])
        .where('contact_id', '=', contactId)
        .execute();
    },

    // ---- data-subject requests ----

    /** Everything stored about a contact's conversations, for a data-subject export. */
    async conversationsWithMessages(db: Executor, contactId: string) {
      const conversations = await db
        .selectFrom('conversations')
        .select(['id', 'status', 'created_at', 'resolved_at', 'team_id', 'source_url', 'source_title'])
        .where('contact_id', '=', contactId)
        .orderBy('created_at')
        .execute();
      const ids = conversations.map((c) => c.id);
      const stored = ids.length
        ? await db
            .selectFrom('messages as m')
            .leftJoin('message_originals as o', 'o.message_id', 'm.id')
            .select([
              'm.id',
              'm.conversation_id',
              'm.seq',
              'm.sender_type',
              'm.kind',
              'm.body',
              'm.private',
              'm.attachment_id',
              'm.created_at',
              'o.original_enc',
            ])
            .where('m.conversation_id', 'in', ids)
            .where('m.private', '=', false)
            .orderBy('m.conversation_id')
            .orderBy('m.seq')
            .execute()
        : [];
      // The data subject gets what was typed: masked messages with their originals opened.
      const messages = stored.map(({ original_enc, ...m }) => ({
        ...m,
        original: pii.open(messageOriginalContext(m.id), original_enc),
      }));
      const attachments = ids.length
        ? await db
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
              'created_at',
            ])
            .where('conversation_id', 'in', ids)
            .execute()
        : [];
      return { conversations, messages, attachments };
    },

    insertErasureRequest(
      db: Executor,
      v: { tokenHash: Buffer; contactId: string; userId: string; expiresAt: Date },
    ) {
      return db
        .insertInto('contact_erasure_requests')
        .values({
          token_hash: v.tokenHash,
          contact_id: v.contactId,
          requested_by: v.userId,
          expires_at: v.expiresAt,
        })
        .execute();
    },

    takeErasureRequest(db: Executor, tokenHash: Buffer, contactId: string, userId: string) {
      return db
        .deleteFrom('contact_erasure_requests')
        .where('token_hash', '=', tokenHash)
        .where('contact_id', '=', contactId)
        .where('requested_by', '=', userId)
        .where('expires_at', '>', sql<Date>`now()`)
        .returning('contact_id')
        .executeTakeFirst();
    },

    /** Deletes the contact and, by cascade, its conversations, messages, attachments, reads. */
    async eraseContact(db: Executor, contactId: string) {
      const counts = await sql<{ conversations: number; messages: number; attachments: number }>`
        select
          (select count(*)::int from conversations where contact_id = ${contactId}) as conversations,
          (select count(*)::int from messages m join conversations c on c.id = m.conversation_id where c.contact_id = ${contactId}) as messages,
          (select count(*)::int from attachments a join conversations c on c.id = a.conversation_id where c.contact_id = ${contactId}) as attachments`.execute(
        db,
      );
      await db.deleteFrom('conversations').where('contact_id', '=', contactId).execute();
      await db.deleteFrom('contacts').where('id', '=', contactId).execute();
      return counts.rows[0]!;
    },
  };
}

export type ContactsRepository = ReturnType<typeof createContactsRepository>;
export type ContactRow = NonNullable<Awaited<ReturnType<ContactsRepository['findContact']>>>;
