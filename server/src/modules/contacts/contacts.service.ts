// Contacts (the customers): profile, custom attributes, tags, verified external id.
// Agents see a contact when they may see one of its conversations.
import type { AuditTrail } from '../../platform/audit.ts';
import type { Database, Executor } from '../../platform/db/database.ts';
import { NotFoundError } from '../../platform/errors.ts';
import { authorize, type Actor } from '../identity/permissions.ts';
import { canSee } from '../conversations/visibility.ts';
import type { ContactPatch, ContactRow, ContactsRepository } from './contacts.repository.ts';

export interface Contact {
  id: string;
  name: string | null;
  email: string | null;
  phone: string | null;
  attributes: Record<string, unknown>;
  tags: string[];
  verifiedExternalId: string | null;
  createdAt: string;
  updatedAt: string;
}

function toContact(r: ContactRow): Contact {
  return {
    id: r.id,
    name: r.name,
    email: r.email,
    phone: r.phone,
    attributes: (r.attributes ?? {}) as Record<string, unknown>,
    tags: r.tags,
    verifiedExternalId: r.external_id,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

export function createContactsService(deps: {
  db: Database;
  repo: ContactsRepository;
  auditTrail: AuditTrail;
}) {
  const { db, repo, auditTrail } = deps;

  async function visibleContact(actor: Actor, id: string, dbx: Executor = db): Promise<ContactRow> {
    const row = await repo.findContact(dbx, id);
    if (!row) throw new NotFoundError('contact');
    if (actor.role !== 'admin') {
      const scopes = await repo.conversationScopes(dbx, id);
      if (!scopes.some((s) => canSee(actor, s))) throw new NotFoundError('contact');
    }
    return row;
  }

  return {
    async getContact(actor: Actor, id: string): Promise<Contact> {
      authorize(actor, 'contacts.read');
      return toContact(await visibleContact(actor, id));
    },

    async updateContact(actor: Actor, id: string, patch: ContactPatch): Promise<Contact> {
      authorize(actor, 'contacts.manage');
      const row = await db.transaction().execute(async (trx) => {
        await visibleContact(actor, id, trx);
        const updated = await repo.updateContact(trx, id, {
          ...patch,
          ...(patch.tags ? { tags: [...new Set(patch.tags.map((t) => t.trim()).filter(Boolean))] } : {}),
        });
        if (!updated) throw new NotFoundError('contact');
        await auditTrail.record(
          trx,
          { id: actor.userId, name: actor.username, ip: actor.ip, userAgent: actor.userAgent },
          {
            action: 'contact.update',
            targetType: 'contact',
            targetId: id,
            details: { fields: Object.keys(patch) },
          },
        );
        return updated;
      });
      return toContact(row);
    },

    /** A new anonymous contact for a first-time visitor. */
    async createAnonymous(trx: Executor, profile: { name?: string | undefined; email?: string | undefined }) {
      return repo.insertContact(trx, {
        name: profile.name ?? null,
        email: profile.email ?? null,
        externalId: null,
      });
    },

    /**
     * The visitor's own details from the widget's pre-chat form, with the consent they gave
     * (kept in attributes.dataProcessingConsent). Runs in the caller's transaction.
     */
    async setVisitorProfile(
      trx: Executor,
      id: string,
      input: { name?: string; phone?: string; consent: { at: string; channelId: string } },
    ) {
      const row = await repo.findContact(trx, id);
      if (!row) return null;
      const attributes = { ...((row.attributes ?? {}) as Record<string, unknown>) };
      attributes.dataProcessingConsent = input.consent;
      return repo.updateContact(trx, id, {
        ...(input.name !== undefined ? { name: input.name } : {}),
        ...(input.phone !== undefined ? { phone: input.phone } : {}),
        attributes,
      });
    },

    exists(dbx: Executor, id: string) {
      return repo.findContact(dbx, id);
    },

    /**
     * A visitor proved (HMAC) to be the customer's user `externalId`. If a contact already has
     * that id, the anonymous contact's conversations move to it and the anonymous one goes;
     * otherwise the anonymous contact becomes verified. Returns the contact id to use.
     */
    async verifyIdentity(
      trx: Executor,
      anonymousContactId: string | null,
      externalId: string,
    ): Promise<string> {
      const known = await repo.findByExternalId(trx, externalId);
      if (known) {
        if (anonymousContactId && anonymousContactId !== known.id) {
          const anon = await repo.findContact(trx, anonymousContactId);
          if (anon && anon.external_id === null) {
            await repo.moveConversations(trx, anon.id, known.id);
            await repo.deleteContact(trx, anon.id);
          }
        }
        return known.id;
      }
      if (anonymousContactId) {
        const anon = await repo.findContact(trx, anonymousContactId);
        if (anon && anon.external_id === null) {
          await repo.updateContact(trx, anon.id, { external_id: externalId });
          return anon.id;
        }
      }
      const created = await repo.insertContact(trx, { name: null, email: null, externalId });
      return created.id;
    },
  };
}

export type ContactsService = ReturnType<typeof createContactsService>;
