// The visitor widget: per-channel widget settings (admins), the public configuration the chat
// frame reads, the embedding check (which pages may frame the chat), and the visitor's own
// profile from the pre-chat form (with the consent the form asks for).
import type { AuditTrail } from '../../platform/audit.ts';
import type { Database, Executor } from '../../platform/db/database.ts';
import { BadRequestError, NotFoundError } from '../../platform/errors.ts';
import type { ContactsService } from '../contacts/contacts.service.ts';
import type { VisitorIdentity } from '../conversations/visitor-tokens.ts';
import { authorize, type Actor } from '../identity/permissions.ts';
import type { WidgetRepository } from './widget.repository.ts';
import type { WidgetSettings, WidgetSettingsPatch } from './widget.schemas.ts';

/**
 * The version of the consent notice the widget shows (web/widget/src/i18n.ts, `consent`),
 * recorded with each consent. Raise it when that text changes.
 */
export const CONSENT_NOTICE_VERSION = '2026-12';

export const DEFAULT_COLOR = '#2563eb';

type ChannelRow = NonNullable<Awaited<ReturnType<WidgetRepository['findChannel']>>>;

function settingsOf(row: ChannelRow): WidgetSettings {
  const all = (row.settings ?? {}) as { widget?: Partial<WidgetSettings> };
  const w = all.widget ?? {};
  return {
    name: typeof w.name === 'string' && w.name ? w.name : row.name,
    color: typeof w.color === 'string' && /^#[0-9a-f]{6}$/i.test(w.color) ? w.color : DEFAULT_COLOR,
    greeting: typeof w.greeting === 'string' ? w.greeting : '',
    preChatForm: w.preChatForm === true,
    allowedOrigins: Array.isArray(w.allowedOrigins)
      ? w.allowedOrigins.filter((o): o is string => typeof o === 'string')
      : [],
  };
}

export function createWidgetService(deps: {
  db: Database;
  repo: WidgetRepository;
  contacts: Pick<ContactsService, 'setVisitorProfile'>;
  auditTrail: AuditTrail;
  /** Parley's own public URL: its origin may always embed the widget (the /demo page). */
  publicUrl: string;
}) {
  const { db, repo, contacts, auditTrail } = deps;
  const publicOrigin = new URL(deps.publicUrl).origin;

  async function webChannel(id: string): Promise<ChannelRow> {
    const row = await repo.findChannel(db, id);
    if (!row || row.type !== 'web_widget') throw new NotFoundError('site');
    return row;
  }

  function snippet(siteKey: string) {
    return `<script src="${publicOrigin}/widget.js" data-parley-site="${siteKey}" async></script>`;
  }

  return {
    publicOrigin,

    /** The first web-widget channel: what /demo embeds. */
    async defaultSiteKey(): Promise<string> {
      const row = await repo.defaultWebChannel(db);
      if (!row) throw new NotFoundError('site');
      return row.id;
    },

    async publicConfig(siteKey: string) {
      const s = settingsOf(await webChannel(siteKey));
      return { siteKey, name: s.name, color: s.color, greeting: s.greeting, preChatForm: s.preChatForm };
    },

    /**
     * May a page of `origin` frame the chat of this site? Parley's own origin always may;
     * others only when an admin listed them.
     */
    async embeddingAllowed(siteKey: string, origin: string): Promise<boolean> {
      const row = await repo.findChannel(db, siteKey);
      if (!row || row.type !== 'web_widget') return false;
      const normalized = origin.toLowerCase();
      return (
        normalized === publicOrigin.toLowerCase() ||
        settingsOf(row).allowedOrigins.some((o) => o.toLowerCase() === normalized)
      );
    },

    async getSettings(actor: Actor, siteKey: string) {
      authorize(actor, 'channels.manage');
      return { ...settingsOf(await webChannel(siteKey)), siteKey, snippet: snippet(siteKey) };
    },

    /** A new website chat (web-widget channel), with default settings until an admin edits them. */
    async createChannel(actor: Actor, input: { name: string }) {
      authorize(actor, 'channels.manage');
      const name = input.name.trim();
      if (name === '') throw new BadRequestError('name: must not be empty', 'name');
      const row = await db.transaction().execute(async (trx) => {
        const created = await repo.insertWebChannel(trx, name, { name });
        await auditTrail.record(
          trx,
          { id: actor.userId, name: actor.username, ip: actor.ip, userAgent: actor.userAgent },
          {
            action: 'channel.create',
            targetType: 'channel',
            targetId: created.id,
            details: { type: 'web_widget', name },
          },
        );
        return created;
      });
      return { ...settingsOf(row), siteKey: row.id, snippet: snippet(row.id) };
    },

    async updateSettings(actor: Actor, siteKey: string, patch: WidgetSettingsPatch) {
      authorize(actor, 'channels.manage');
      const saved = await db.transaction().execute(async (trx) => {
        const row = await repo.findChannelForUpdate(trx, siteKey);
        if (!row || row.type !== 'web_widget') throw new NotFoundError('site');
        const next: WidgetSettings = { ...settingsOf(row), ...patch };
        next.allowedOrigins = [...new Set(next.allowedOrigins.map((o) => o.toLowerCase()))];
        next.greeting = next.greeting.trim();
        await repo.saveWidgetSettings(trx, siteKey, next);
        await auditTrail.record(
          trx,
          { id: actor.userId, name: actor.username, ip: actor.ip, userAgent: actor.userAgent },
          {
            action: 'channel.widget_settings.update',
            targetType: 'channel',
            targetId: siteKey,
            details: { fields: Object.keys(patch), allowedOrigins: next.allowedOrigins },
          },
        );
        return next;
      });
      return { ...saved, siteKey, snippet: snippet(siteKey) };
    },

    /**
     * Every website (web-widget channel) with its default team: the team a conversation goes to
     * when no routing rule matches. Read and written by the routing module (no permission check
     * here: routing checks its own; `db` may be its transaction).
     */
    async websites(db: Executor = deps.db) {
      const rows = await repo.listWebChannels(db);
      return rows.map((r) => ({ channelId: r.id, name: r.name, defaultTeamId: r.default_team_id }));
    },
    /** Sets a website's default team inside the caller's transaction; null when no such website. */
    async setDefaultTeam(db: Executor, channelId: string, teamId: string | null) {
      const r = await repo.setDefaultTeam(db, channelId, teamId);
      return r ? { channelId: r.id, name: r.name, defaultTeamId: r.default_team_id } : null;
    },

    /**
     * The pre-chat form: name and phone are personal data, stored only with the visitor's
     * explicit consent, which is recorded (time and channel) on the contact and audited.
     */
    async setVisitorProfile(
      v: VisitorIdentity,
      input: { name?: string | undefined; phone?: string | undefined; consent: boolean },
    ) {
      if (!input.consent) {
        throw new BadRequestError(
          'consent: the visitor must agree to the processing of personal data',
          'consent',
        );
      }
      return db.transaction().execute(async (trx) => {
        const consentAt = new Date().toISOString();
        const out = await contacts.setVisitorProfile(trx, v.contactId, {
          ...(input.name !== undefined ? { name: input.name.trim() } : {}),
          ...(input.phone !== undefined ? { phone: input.phone.trim() } : {}),
          consent: { at: consentAt, channelId: v.channelId, version: CONSENT_NOTICE_VERSION },
        });
        if (!out) throw new NotFoundError('contact');
        await auditTrail.record(
          trx,
          { id: null, name: `visitor:${v.contactId}`, ip: null, userAgent: null },
          {
            action: 'contact.consent',
            targetType: 'contact',
            targetId: v.contactId,
            details: {
              channelId: v.channelId,
              fields: [input.name !== undefined && 'name', input.phone !== undefined && 'phone'].filter(
                Boolean,
              ),
            },
          },
        );
        return { name: out.name, phone: out.phone, consentAt };
      });
    },
  };
}

export type WidgetService = ReturnType<typeof createWidgetService>;
