// Security settings an admin changes at run time: the 2FA policy and the console IP allow-list.
// Read on every request, so they are cached for a few seconds (each replica re-reads them).
import { BlockList, isIP } from 'node:net';
import type { AuditTrail } from '../../platform/audit.ts';
import type { Database } from '../../platform/db/database.ts';
import { BadRequestError, ConflictError } from '../../platform/errors.ts';
import { authorize, isRole, type Actor, type Role } from '../identity/permissions.ts';
import type { SecurityRepository } from './security.repository.ts';

export interface SecuritySettings {
  /** When true, users whose role is in mfaRequiredRoles must use 2FA. */
  mfaEnforced: boolean;
  mfaRequiredRoles: Role[];
  /** Addresses or CIDR ranges allowed to use the console and its API; empty = anywhere. */
  consoleIpAllowList: string[];
  /**
   * Phone, PRC ID-card and bank-card numbers typed in chat are stored masked, the original kept
   * encrypted with the key ring (modules/conversations/transcript-masking.ts). Needs
   * PARLEY_ENCRYPTION_KEYS to be turned on.
   */
  transcriptMasking: boolean;
}

const defaults: SecuritySettings = {
  mfaEnforced: false,
  mfaRequiredRoles: ['admin'],
  consoleIpAllowList: [],
  transcriptMasking: false,
};
export const DEFAULT_SECURITY_SETTINGS: Readonly<SecuritySettings> = Object.freeze(defaults);

const CACHE_MS = 5_000;

function buildBlockList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [addr, bits] = entry.split('/') as [string, string | undefined];
    const family = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr, family);
    else list.addSubnet(addr, Number(bits), family);
  }
  return list;
}

export function parseAllowListEntry(entry: string): string {
  const v = entry.trim();
  const [addr, bits, extra] = v.split('/');
  const family = isIP(addr ?? '');
  const max = family === 6 ? 128 : 32;
  if (
    !family ||
    extra !== undefined ||
    (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= max))
  ) {
    throw new BadRequestError(
      `consoleIpAllowList: "${entry}" is not an IP address or CIDR range such as 10.0.0.0/8`,
      'consoleIpAllowList',
    );
  }
  return v;
}

/** IPv4 clients often arrive as ::ffff:a.b.c.d on dual-stack sockets. */
function plainIp(ip: string): { ip: string; family: 'ipv4' | 'ipv6' } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return { ip: mapped[1]!, family: 'ipv4' };
  return { ip, family: isIP(ip) === 6 ? 'ipv6' : 'ipv4' };
}

export function createSecurityService(deps: {
  db: Database;
  repo: SecurityRepository;
  auditTrail: AuditTrail;
  /** Whether PARLEY_ENCRYPTION_KEYS is set (transcript masking keeps originals encrypted). */
  encryptionConfigured?: boolean;
}) {
  const { db, repo, auditTrail } = deps;
  let cached: { at: number; settings: SecuritySettings; allow: BlockList | null } | null = null;

  // One read at a time: the message send path asks too (transcript masking), so when the cache
  // expires under load, concurrent callers share the one query instead of each sending theirs.
  let reading: Promise<{ settings: SecuritySettings; allow: BlockList | null }> | null = null;

  async function read() {
    const rows = await repo.all(db);
    const settings: SecuritySettings = { ...DEFAULT_SECURITY_SETTINGS };
    for (const r of rows) {
      if (r.key in settings) (settings as unknown as Record<string, unknown>)[r.key] = r.value;
    }
    const allow = settings.consoleIpAllowList.length > 0 ? buildBlockList(settings.consoleIpAllowList) : null;
    cached = { at: Date.now(), settings, allow };
    return cached;
  }

  function load(): Promise<{ settings: SecuritySettings; allow: BlockList | null }> {
    if (cached && Date.now() - cached.at < CACHE_MS) return Promise.resolve(cached);
    reading ??= read().finally(() => {
      reading = null;
    });
    return reading;
  }

  function ipAllowed(allow: BlockList | null, ip: string | null): boolean {
    if (!allow) return true;
    if (!ip) return false;
    const p = plainIp(ip);
    return allow.check(p.ip, p.family);
  }

  return {
    async get(): Promise<SecuritySettings> {
      return (await load()).settings;
    },

    async getForActor(actor: Actor): Promise<SecuritySettings> {
      authorize(actor, 'security.manage');
      return (await load()).settings;
    },

    /** Whether the console may be used from this address. */
    async consoleAllows(ip: string | null): Promise<boolean> {
      return ipAllowed((await load()).allow, ip);
    },

    /** A sign-in attempt from outside the console allow-list is a denied access: audited. */
    async recordRefusedSignIn(client: { ip: string | null; userAgent: string | null }): Promise<void> {
      await db
        .transaction()
        .execute((trx) =>
          auditTrail.record(
            trx,
            { id: null, name: null, ip: client.ip, userAgent: client.userAgent },
            { action: 'auth.login', outcome: 'denied', details: { reason: 'ip_not_allowed' } },
          ),
        );
    },

    /** Read on the send path: cached like every setting here (a change applies within seconds). */
    async transcriptMaskingOn(): Promise<boolean> {
      return (await load()).settings.transcriptMasking;
    },

    async mfaRequiredFor(role: Role): Promise<boolean> {
      const { settings } = await load();
      return settings.mfaEnforced && settings.mfaRequiredRoles.includes(role);
    },

    async update(actor: Actor, patch: Partial<SecuritySettings>): Promise<SecuritySettings> {
      authorize(actor, 'security.manage');
      const next: Partial<SecuritySettings> = {};
      if (patch.mfaEnforced !== undefined) next.mfaEnforced = patch.mfaEnforced;
      if (patch.mfaRequiredRoles !== undefined) {
        for (const r of patch.mfaRequiredRoles) {
          if (!isRole(r))
            throw new BadRequestError(`mfaRequiredRoles: unknown role "${String(r)}"`, 'mfaRequiredRoles');
        }
        next.mfaRequiredRoles = [...new Set(patch.mfaRequiredRoles)];
      }
      if (patch.consoleIpAllowList !== undefined) {
        next.consoleIpAllowList = patch.consoleIpAllowList.map(parseAllowListEntry);
        // An admin cannot lock themselves out by mistake.
        if (
          next.consoleIpAllowList.length > 0 &&
          !ipAllowed(buildBlockList(next.consoleIpAllowList), actor.ip)
        ) {
          throw new ConflictError(
            `consoleIpAllowList: your own address (${actor.ip ?? 'unknown'}) is not in the list; you would lock yourself out`,
            { field: 'consoleIpAllowList' },
          );
        }
      }
      const before = (await load()).settings;
      if (patch.transcriptMasking !== undefined) {
        // (refused only when turning it on: saving other settings keeps an existing value)
        if (patch.transcriptMasking && !before.transcriptMasking && !deps.encryptionConfigured) {
          throw new ConflictError(
            'transcriptMasking: needs PARLEY_ENCRYPTION_KEYS; the original of a masked message is kept encrypted',
            { field: 'transcriptMasking' },
          );
        }
        next.transcriptMasking = patch.transcriptMasking;
      }
      const changes: Record<string, { from: unknown; to: unknown }> = {};
      for (const [k, v] of Object.entries(next)) {
        const old = before[k as keyof SecuritySettings];
        if (JSON.stringify(old) !== JSON.stringify(v)) changes[k] = { from: old, to: v };
      }
      if (Object.keys(changes).length > 0) {
        await db.transaction().execute(async (trx) => {
          for (const k of Object.keys(changes)) {
            await repo.upsert(trx, k, next[k as keyof SecuritySettings], actor.userId);
          }
          await auditTrail.record(
            trx,
            { id: actor.userId, name: actor.username, ip: actor.ip, userAgent: actor.userAgent },
            { action: 'settings.update', targetType: 'settings', targetId: 'security', details: changes },
          );
        });
        cached = null;
        reading = null; // a read begun before this commit must not be what callers get next
      }
      return (await load()).settings;
    },
  };
}

export type SecurityService = ReturnType<typeof createSecurityService>;
