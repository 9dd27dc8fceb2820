// Every SQL statement about contacts (the customers).
import { sql } from 'kysely';
import type { Executor } from '../../platform/db/database.ts';

export const contactColumns = [
  'contacts.id',
  'contacts.name',
  'contacts.email',
  'contacts.phone',
  'contacts.attributes',
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

export function createContactsRepository() {
  return {
    findContact(db: Executor, id: string) {
      return db.selectFrom('contacts').select(contactColumns).where('id', '=', id).executeTakeFirst();
    },
    findByExternalId(db: Executor, externalId: string) {
      return db
        .selectFrom('contacts')
        .select(contactColumns)
        .where('external_id', '=', externalId)
        .executeTakeFirst();
    },
    insertContact(db: Executor, v: { name: string | null; email: string | null; externalId: string | null }) {
      return db
        .insertInto('contacts')
        .values({ name: v.name, email: v.email, external_id: v.externalId })
        .returning(contactColumns)
        .executeTakeFirstOrThrow();
    },
    updateContact(db: Executor, id: string, patch: ContactPatch & { external_id?: string }) {
      const { attributes, ...rest } = patch;
      return db
        .updateTable('contacts')
        .set({
          ...rest,
          ...(attributes !== undefined ? { attributes: JSON.stringify(attributes) } : {}),
          updated_at: sql<Date>`now()`,
        })
        .where('id', '=', id)
        .returning(contactColumns)
        .executeTakeFirst();
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
  };
}

export type ContactsRepository = ReturnType<typeof createContactsRepository>;
export type ContactRow = NonNullable<Awaited<ReturnType<ContactsRepository['findContact']>>>;
