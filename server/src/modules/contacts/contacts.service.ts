// Contacts (the customers): profile, custom attributes, tags, verified external id.
// Agents see a contact when they may see one of its conversations.
import { createHash, randomBytes } from 'node:crypto';
import type { AuditTrail } from '../../platform/audit.ts';
import { createTar } from '../../platform/archive/tar.ts';
import { maskEmail, maskName, maskPhone, maskAddress } from '../../platform/crypto/pii.ts';
import type { Database, Executor } from '../../platform/db/database.ts';
import { BadRequestError, ForbiddenError, NotFoundError } from '../../platform/errors.ts';
import { authorize, type Actor } from '../identity/permissions.ts';
import type { AttachmentStore } from '../conversations/attachment-store.ts';
import { canSee } from '../conversations/visibility.ts';
import type { ContactPatch, ContactRow, ContactsRepository } from './contacts.repository.ts';

/** What the visitor agreed to in the widget's pre-chat form: a compliance record, read-only. */
export interface ConsentRecord {
  at: string;
  channelId: string | null;
  /** The version of the consent notice shown (absent on records from before versions). */
  version: string | null;
}

/** Where the consent lives (in the contact's attributes, apart from the custom ones). */
export const CONSENT_ATTRIBUTE = 'dataProcessingConsent';

function consentOf(attributes: Record<string, unknown>): ConsentRecord | null {
  const c = attributes[CONSENT_ATTRIBUTE] as Record<string, unknown> | undefined;
  if (!c || typeof c !== 'object' || typeof c.at !== 'string') return null;
  return {
    at: c.at,
    channelId: typeof c.channelId === 'string' ? c.channelId : null,
    version: typeof c.version === 'string' ? c.version : null,
  };
}

/** The custom attributes agents see and edit: everything but the consent record. */
function customAttributes(attributes: Record<string, unknown>): Record<string, unknown> {
  const { [CONSENT_ATTRIBUTE]: _consent, ...rest } = attributes;
  return rest;
}

export interface Contact {
  id: string;
  name: string | null;
  email: string | null;
  phone: string | null;
  attributes: Record<string, unknown>;
  consent: ConsentRecord | null;
  tags: string[];
  verifiedExternalId: string | null;
  createdAt: string;
  updatedAt: string;
}

/** Personal data as the API shows it by default: masked (`138****1234`, `z***@example.com`). */
function maskedAttributes(attrs: Record<string, unknown>, sensitive: ReadonlySet<string>) {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(attrs)) {
    out[k] = sensitive.has(k) ? (typeof v === 'string' ? maskAddress(v) : '***') : v;
  }
  return out;
}

function toContact(r: ContactRow, view: { reveal: boolean; sensitive: ReadonlySet<string> }): Contact {
  const m = <T>(v: string | null, f: (x: string) => T) => (v === null || view.reveal ? v : f(v));
  return {
    id: r.id,
    name: m(r.name, maskName),
    email: m(r.email, maskEmail),
    phone: m(r.phone, maskPhone),
    attributes: customAttributes(view.reveal ? r.attributes : maskedAttributes(r.attributes, view.sensitive)),
    consent: consentOf(r.attributes),
    tags: r.tags,
    verifiedExternalId: r.external_id,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PHONE = /^[0-9+() .-]+$/;

export function createContactsService(deps: {
  db: Database;
  repo: ContactsRepository;
  auditTrail: AuditTrail;
  /** Custom attribute keys treated as personal data (masked, encrypted at rest). */
  sensitiveAttributes?: readonly string[];
  /** Attachment bytes in the database or on the volume (export reads them, erasure removes them). */
  attachments: AttachmentStore;
}) {
  const { db, repo, auditTrail, attachments: store } = deps;
  const sensitive = new Set(deps.sensitiveAttributes ?? []);
  const masked = { reveal: false, sensitive };
  const who = (actor: Actor) => ({
    id: actor.userId,
    name: actor.username,
    ip: actor.ip,
    userAgent: actor.userAgent,
  });
  const hashToken = (t: string) => createHash('sha256').update(t).digest();

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
      return toContact(await visibleContact(actor, id), masked);
    },

    /**
     * Finds contacts for a data-subject request or a lookup: by id, by the customer's verified
     * user id, by exact email or phone (through the keyed-hash index when encrypted), and by part
     * of the name (only among recently updated contacts while names are encrypted). Results are
     * masked and limited to the contacts the actor may see.
     */
    async searchContacts(actor: Actor, query: string): Promise<{ contacts: Contact[]; nameSearch: boolean }> {
      authorize(actor, 'contacts.read');
      const q = query.trim();
      if (q === '') return { contacts: [], nameSearch: repo.nameSearchComplete };
      const found = new Map<string, ContactRow>();
      const add = (rows: (ContactRow | undefined)[]) => {
        for (const r of rows) if (r && !found.has(r.id)) found.set(r.id, r);
      };
      if (UUID.test(q)) add([await repo.findContact(db, q.toLowerCase())]);
      add([await repo.findByExternalId(db, q)]);
      if (q.includes('@')) add(await repo.findByLookup(db, 'email', q));
      if (PHONE.test(q) && q.replace(/\D/g, '').length >= 5) add(await repo.findByLookup(db, 'phone', q));
      add(await repo.findByNamePart(db, q));
      const visible: Contact[] = [];
      for (const row of found.values()) {
        if (actor.role !== 'admin') {
          const scopes = await repo.conversationScopes(db, row.id);
          if (!scopes.some((s) => canSee(actor, s))) continue;
        }
        visible.push(toContact(row, masked));
        if (visible.length === 50) break;
      }
      return { contacts: visible, nameSearch: repo.nameSearchComplete };
    },

    /** The unmasked personal data: an explicit, audited action needing pii.reveal. */
    async revealContact(actor: Actor, id: string): Promise<Contact> {
      authorize(actor, 'pii.reveal');
      return db.transaction().execute(async (trx) => {
        const row = await visibleContact(actor, id, trx);
        await auditTrail.record(trx, who(actor), {
          action: 'contact.pii_reveal',
          targetType: 'contact',
          targetId: id,
          details: { fields: ['name', 'email', 'phone', 'attributes'] },
        });
        return toContact(row, { reveal: true, sensitive });
      });
    },

    /**
     * Data-subject export: everything about one contact (profile, conversations with their
     * public messages — masked ones as typed —, attachments) as one tar archive. Audited.
     */
    async exportContact(actor: Actor, id: string): Promise<{ archive: Buffer; fileName: string }> {
      authorize(actor, 'privacy.manage');
      return db.transaction().execute(async (trx) => {
        const row = await visibleContact(actor, id, trx);
        const data = await repo.conversationsWithMessages(trx, id);
        const document = {
          exportedAt: new Date().toISOString(),
          contact: toContact(row, { reveal: true, sensitive }),
          conversations: data.conversations.map((c) => ({
            id: c.id,
            status: c.status,
            createdAt: c.created_at.toISOString(),
            resolvedAt: c.resolved_at?.toISOString() ?? null,
            // The page the visitor started from (the widget reports it): their data too.
            sourcePage: c.source_url ? { url: c.source_url, title: c.source_title } : null,
            messages: data.messages
              .filter((msg) => msg.conversation_id === c.id)
              .map((msg) => ({
                seq: msg.seq,
                from: msg.sender_type,
                kind: msg.kind,
                // Transcript masking hides numbers from agents, not from the person who typed them.
                text: msg.original ?? msg.body,
                attachment: msg.attachment_id,
                at: msg.created_at.toISOString(),
              })),
          })),
          attachments: data.attachments.map((a) => ({
            id: a.id,
            conversationId: a.conversation_id,
            fileName: a.file_name,
            contentType: a.content_type,
            sizeBytes: a.size_bytes,
            path: `attachments/${a.id}-${a.file_name}`,
          })),
        };
        const archive = createTar([
          { name: 'contact.json', data: Buffer.from(JSON.stringify(document, null, 2), 'utf8') },
          ...(await Promise.all(
            data.attachments.map(async (a) => ({
              name: `attachments/${a.id}-${a.file_name}`,
              data: await store.read(a),
              mtime: a.created_at,
            })),
          )),
        ]);
        await auditTrail.record(trx, who(actor), {
          action: 'contact.export',
          targetType: 'contact',
          targetId: id,
          details: {
            conversations: data.conversations.length,
            messages: data.messages.length,
            attachments: data.attachments.length,
            bytes: archive.length,
          },
        });
        return { archive, fileName: `contact-${id}.tar` };
      });
    },

    /** Erasure, step 1: what would be erased, and a token (10 minutes) to confirm it. */
    async requestErasure(
      actor: Actor,
      id: string,
    ): Promise<{
      confirmation: string;
      expiresAt: string;
      conversations: number;
      messages: number;
      attachments: number;
    }> {
      authorize(actor, 'privacy.manage');
      await visibleContact(actor, id);
      const data = await repo.conversationsWithMessages(db, id);
      const confirmation = randomBytes(24).toString('base64url');
      const expiresAt = new Date(Date.now() + 10 * 60_000);
      await repo.insertErasureRequest(db, {
        tokenHash: hashToken(confirmation),
        contactId: id,
        userId: actor.userId,
        expiresAt,
      });
      return {
        confirmation,
        expiresAt: expiresAt.toISOString(),
        conversations: data.conversations.length,
        messages: data.messages.length,
        attachments: data.attachments.length,
      };
    },

    /** Erasure, step 2: deletes profile, conversations, messages, attachments. Audited (no PII). */
    async eraseContact(actor: Actor, id: string, confirmation: string) {
      authorize(actor, 'privacy.manage');
      const { counts, files } = await db.transaction().execute(async (trx) => {
        await visibleContact(actor, id, trx);
        const ok = await repo.takeErasureRequest(trx, hashToken(confirmation), id, actor.userId);
        if (!ok)
          throw new BadRequestError(
            'confirmation: missing, expired or not yours; request the erasure again',
            'confirmation',
          );
        const conversationIds = (await repo.conversationsWithMessages(trx, id)).conversations.map(
          (c) => c.id,
        );
        const files = await store.keysOfConversations(trx, conversationIds);
        const counts = await repo.eraseContact(trx, id);
        await auditTrail.record(trx, who(actor), {
          action: 'contact.erase',
          targetType: 'contact',
          targetId: id,
          details: { ...counts },
        });
        return { counts, files };
      });
      // The rows are gone (committed): now their files on the attachment volume.
      await store.remove(db, files);
      return counts;
    },

    /**
     * `attributes` replaces the whole set; `setAttributes` changes only the keys it names (null
     * removes one), so a reader who sees sensitive attributes masked cannot overwrite them.
     */
    async updateContact(
      actor: Actor,
      id: string,
      input: ContactPatch & { setAttributes?: Record<string, unknown> },
    ): Promise<Contact> {
      authorize(actor, 'contacts.manage');
      const { setAttributes, ...patch } = input;
      // The consent record is the visitor's, as they gave it: nobody edits or deletes it here
      // (erasure of the whole contact is the data-subject route).
      for (const [field, attrs] of [
        ['attributes', patch.attributes],
        ['setAttributes', setAttributes],
      ] as const) {
        if (attrs && CONSENT_ATTRIBUTE in attrs) {
          throw new ForbiddenError(
            `${field}.${CONSENT_ATTRIBUTE}: the consent record is kept as the visitor gave it and cannot be changed`,
            'consent_read_only',
          );
        }
      }
      const row = await db.transaction().execute(async (trx) => {
        const current = await visibleContact(actor, id, trx);
        if (setAttributes) {
          const merged: Record<string, unknown> = { ...(patch.attributes ?? current.attributes) };
          for (const [k, v] of Object.entries(setAttributes)) {
            if (v === null) delete merged[k];
            else merged[k] = v;
          }
          patch.attributes = merged;
        }
        // Replacing the custom attributes keeps the consent record.
        if (patch.attributes && CONSENT_ATTRIBUTE in current.attributes) {
          patch.attributes = {
            ...patch.attributes,
            [CONSENT_ATTRIBUTE]: current.attributes[CONSENT_ATTRIBUTE],
          };
        }
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
            details: { fields: Object.keys(input) },
          },
        );
        return updated;
      });
      return toContact(row, masked);
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
      input: {
        name?: string;
        phone?: string;
        email?: string;
        consent: { at: string; channelId: string; version: string };
      },
    ) {
      const row = await repo.findContact(trx, id);
      if (!row) return null;
      const attributes = { ...((row.attributes ?? {}) as Record<string, unknown>) };
      attributes[CONSENT_ATTRIBUTE] = input.consent;
      return repo.updateContact(trx, id, {
        ...(input.name !== undefined ? { name: input.name } : {}),
        ...(input.phone !== undefined ? { phone: input.phone } : {}),
        ...(input.email !== undefined ? { email: input.email } : {}),
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
