// LDAP / Active Directory sign-in (ldapts). The service account finds the user, the user's own
// password is checked by binding as the user, and the user's groups decide the Parley role
// and teams (LDAP_ROLE_MAP, LDAP_TEAM_MAP). Passwords never leave this module.
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Client, InvalidCredentialsError } from 'ldapts';
import type { Config } from '../../config/config.ts';
import { ServiceUnavailableError } from '../../platform/errors.ts';
import { ROLES, type Role } from './permissions.ts';

export type DirectorySettings = Pick<
  Config,
  | 'ldapUrl'
  | 'ldapBindDn'
  | 'ldapBindPassword'
  | 'ldapUserBase'
  | 'ldapUserFilter'
  | 'ldapGroupBase'
  | 'ldapGroupFilter'
  | 'ldapRoleMap'
  | 'ldapTeamMap'
  | 'ldapStartTls'
  | 'ldapTlsCaFile'
  | 'ldapTlsRejectUnauthorized'
  | 'ldapTimeoutMs'
>;

export interface DirectoryUser {
  dn: string;
  displayName: string;
  /** Normalised DNs of the user's groups. */
  groups: string[];
  /** The mapped role (most privileged match), or null when no group maps to a role. */
  role: Role | null;
  /** Mapped team names. */
  teams: string[];
}

export interface Directory {
  /** The user if the directory accepts the password; null for unknown user or wrong password. */
  authenticate(username: string, password: string): Promise<DirectoryUser | null>;
}

/** RFC 4515: a value placed inside a search filter cannot change the filter. */
export function escapeFilterValue(value: string): string {
  return value.replace(/[\\*()\0]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Case- and spacing-insensitive DN, for comparing group DNs with the configured maps. */
export function normaliseDn(dn: string): string {
  return dn
    .split(',')
    .map((rdn) =>
      rdn
        .trim()
        .toLowerCase()
        .replace(/\s*=\s*/, '='),
    )
    .join(',');
}

/** Role precedence when a user is in several mapped groups. */
const PRECEDENCE: readonly Role[] = ['admin', 'supervisor', 'agent', 'auditor'];

export function mapGroups(
  groups: readonly string[],
  roleMap: Readonly<Record<string, string>>,
  teamMap: Readonly<Record<string, string>>,
): { role: Role | null; teams: string[] } {
  const normRole = new Map(Object.entries(roleMap).map(([dn, role]) => [normaliseDn(dn), role]));
  const normTeam = new Map(Object.entries(teamMap).map(([dn, team]) => [normaliseDn(dn), team]));
  const roles = new Set<string>();
  const teams = new Set<string>();
  for (const g of groups) {
    const r = normRole.get(g);
    if (r) roles.add(r);
    const t = normTeam.get(g);
    if (t) teams.add(t);
  }
  const role = PRECEDENCE.find((r) => roles.has(r)) ?? null;
  return { role, teams: [...teams].sort() };
}

function attr(entry: Record<string, unknown>, name: string): string[] {
  const key = Object.keys(entry).find((k) => k.toLowerCase() === name.toLowerCase());
  if (!key) return [];
  const v = entry[key];
  const list = Array.isArray(v) ? v : [v];
  return list.map((x) => (Buffer.isBuffer(x) ? x.toString('utf8') : String(x)));
}

export function createDirectory(settings: DirectorySettings): Directory | null {
  if (!settings.ldapUrl || !settings.ldapUserBase) return null;
  for (const role of Object.values(settings.ldapRoleMap)) {
    if (!(ROLES as readonly string[]).includes(role))
      throw new Error(`LDAP_ROLE_MAP: unknown role "${role}"`);
  }
  const url = settings.ldapUrl;
  const userBase = settings.ldapUserBase;
  const tlsOptions: ConnectionOptions = {
    rejectUnauthorized: settings.ldapTlsRejectUnauthorized,
    ...(settings.ldapTlsCaFile ? { ca: [readFileSync(settings.ldapTlsCaFile)] } : {}),
  };
  const newClient = () =>
    new Client({
      url,
      timeout: settings.ldapTimeoutMs,
      connectTimeout: settings.ldapTimeoutMs,
      ...(url.startsWith('ldaps:') ? { tlsOptions } : {}),
    });

  async function open(): Promise<Client> {
    const client = newClient();
    if (settings.ldapStartTls) await client.startTLS(tlsOptions);
    return client;
  }

  return {
    async authenticate(username, password) {
      // An empty password is an "unauthenticated bind" that many servers accept: never.
      if (password.length === 0 || username.length === 0) return null;
      let service: Client | undefined;
      try {
        service = await open();
        if (settings.ldapBindDn) await service.bind(settings.ldapBindDn, settings.ldapBindPassword ?? '');
        const filter = settings.ldapUserFilter.replaceAll('{username}', escapeFilterValue(username));
        const { searchEntries } = await service.search(userBase, {
          scope: 'sub',
          filter,
          attributes: ['cn', 'displayName', 'memberOf'],
          sizeLimit: 2,
        });
        if (searchEntries.length !== 1) return null;
        const entry = searchEntries[0]!;

        const asUser = await open();
        try {
          await asUser.bind(entry.dn, password);
        } catch (err) {
          if (err instanceof InvalidCredentialsError) return null;
          throw err;
        } finally {
          await asUser.unbind().catch(() => undefined);
        }

        let groups: string[];
        if (settings.ldapGroupBase) {
          const res = await service.search(settings.ldapGroupBase, {
            scope: 'sub',
            filter: settings.ldapGroupFilter.replaceAll('{dn}', escapeFilterValue(entry.dn)),
            attributes: ['dn'],
          });
          groups = res.searchEntries.map((g) => normaliseDn(g.dn));
        } else {
          groups = attr(entry, 'memberOf').map(normaliseDn);
        }
        const mapped = mapGroups(groups, settings.ldapRoleMap, settings.ldapTeamMap);
        const displayName = attr(entry, 'displayName')[0] ?? attr(entry, 'cn')[0] ?? username;
        return { dn: entry.dn, displayName, groups, ...mapped };
      } catch (err) {
        if (err instanceof InvalidCredentialsError) {
          // the service account itself was refused: a configuration problem, not the user's
          throw new ServiceUnavailableError('The directory refused Parley’s service account (LDAP_BIND_DN).');
        }
        if (err instanceof ServiceUnavailableError) throw err;
        throw new ServiceUnavailableError(
          `The directory server cannot be reached right now (${(err as Error).message}); local accounts still work.`,
        );
      } finally {
        await service?.unbind().catch(() => undefined);
      }
    },
  };
}
