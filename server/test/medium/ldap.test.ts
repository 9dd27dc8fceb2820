// LDAP sign-in against a real OpenLDAP server started for this file.
import { describe, expect, it } from 'vitest';
import { createTestApp, signIn, type TestApp } from '../support/app.ts';
import { slapdAvailable, startSlapd } from '../support/slapd.ts';

const GROUPS = 'ou=groups,dc=example,dc=com';
const PEOPLE = 'ou=people,dc=example,dc=com';

// Never skipped: `make test` installs slapd first (scripts/test-prerequisites.sh) or stops.
if (!slapdAvailable) {
  throw new Error('slapd and ldap-utils are required: sudo apt-get install -y slapd ldap-utils');
}
const ldap = await startSlapd();
await ldap.ldapadd(`dn: dc=example,dc=com
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ${PEOPLE}
objectClass: organizationalUnit
ou: people

dn: ${GROUPS}
objectClass: organizationalUnit
ou: groups

dn: cn=parley-svc,dc=example,dc=com
objectClass: simpleSecurityObject
objectClass: organizationalRole
cn: parley-svc
userPassword: svc-password

dn: uid=alice,${PEOPLE}
objectClass: inetOrgPerson
uid: alice
cn: Alice Admin
sn: Admin
displayName: 王爱丽
userPassword: alice-password

dn: uid=bob,${PEOPLE}
objectClass: inetOrgPerson
uid: bob
cn: Bob Agent
sn: Agent
userPassword: bob-password

dn: uid=carol,${PEOPLE}
objectClass: inetOrgPerson
uid: carol
cn: Carol Outsider
sn: Outsider
userPassword: carol-password

dn: uid=localuser,${PEOPLE}
objectClass: inetOrgPerson
uid: localuser
cn: Mallory Directory
sn: Directory
displayName: 目录里的同名用户
userPassword: directory-password

dn: cn=cs-admins,${GROUPS}
objectClass: groupOfNames
cn: cs-admins
member: uid=alice,${PEOPLE}
member: uid=localuser,${PEOPLE}

dn: cn=cs-agents,${GROUPS}
objectClass: groupOfNames
cn: cs-agents
member: uid=bob,${PEOPLE}
member: uid=alice,${PEOPLE}

dn: cn=billing,${GROUPS}
objectClass: groupOfNames
cn: billing
member: uid=bob,${PEOPLE}
member: uid=alice,${PEOPLE}

dn: cn=unrelated,${GROUPS}
objectClass: groupOfNames
cn: unrelated
member: uid=carol,${PEOPLE}
`);
const t: TestApp = await createTestApp({
  LDAP_URL: ldap.url,
  LDAP_BIND_DN: 'cn=parley-svc,dc=example,dc=com',
  LDAP_BIND_PASSWORD: 'svc-password',
  LDAP_USER_BASE: PEOPLE,
  LDAP_USER_FILTER: '(uid={username})',
  LDAP_GROUP_BASE: GROUPS,
  LDAP_GROUP_FILTER: '(&(objectClass=groupOfNames)(member={dn}))',
  LDAP_ROLE_MAP: JSON.stringify({
    [`cn=cs-admins,${GROUPS}`]: 'admin',
    [`CN=CS-Agents, ${GROUPS.toUpperCase()}`]: 'agent',
  }),
  LDAP_TEAM_MAP: JSON.stringify({ [`cn=billing,${GROUPS}`]: 'Billing' }),
  LDAP_TIMEOUT_MS: '2000',
});

const login = (username: string, password: string) =>
  t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { username, password },
    remoteAddress: '10.80.0.1',
  });

describe('LDAP / Active Directory sign-in (OpenLDAP)', () => {
  it('signs in a directory user, creates the account with the mapped role (most privileged wins)', async () => {
    const res = await login('alice', 'alice-password');
    expect(res.statusCode, res.body).toBe(200);
    const { user } = res.json<{ user: { role: string; authSource: string; displayName: string } }>();
    expect(user).toMatchObject({ role: 'admin', authSource: 'ldap', displayName: '王爱丽' });
    const audit = await t.container.db
      .selectFrom('audit_log')
      .select(['action', 'actor_name', 'details'])
      .where('target_type', 'in', ['user', 'session'])
      .orderBy('seq')
      .execute();
    expect(audit.map((a) => a.action)).toEqual(['user.create', 'auth.login']);
    expect(JSON.stringify(audit)).not.toContain('alice-password');
  });

  it('maps groups to teams and follows the directory at the next sign-in', async () => {
    const admin = await signIn(t, 'admin');
    const billing = await t.app.inject({
      method: 'POST',
      url: '/api/v1/teams',
      headers: { cookie: admin.cookie },
      payload: { name: 'Billing' },
    });
    const teamId = billing.json<{ id: string }>().id;
    const first = await login('bob', 'bob-password');
    expect(first.json<{ user: { role: string; teamIds: string[] } }>().user).toMatchObject({
      role: 'agent',
      teamIds: [teamId],
    });
    // Bob leaves the billing group and becomes an admin in the directory.
    await ldap.ldapmodify(`dn: cn=billing,${GROUPS}
changetype: modify
delete: member
member: uid=bob,${PEOPLE}

dn: cn=cs-admins,${GROUPS}
changetype: modify
add: member
member: uid=bob,${PEOPLE}
`);
    const second = await login('bob', 'bob-password');
    expect(second.json<{ user: { role: string; teamIds: string[] } }>().user).toMatchObject({
      role: 'admin',
      teamIds: [],
    });
    const changes = await t.container.db
      .selectFrom('audit_log')
      .select(['action', 'actor_name'])
      .where('action', 'in', ['user.role_change', 'team.member_remove'])
      .execute();
    expect(changes).toEqual([
      { action: 'user.role_change', actor_name: 'ldap' },
      { action: 'team.member_remove', actor_name: 'ldap' },
    ]);
  });

  it('refuses a wrong password (audited), users outside mapped groups, and filter injection', async () => {
    const wrong = await login('alice', 'not-her-password');
    expect(wrong.statusCode).toBe(401);
    const failure = await t.container.db
      .selectFrom('audit_log')
      .select(['details'])
      .where('action', '=', 'auth.login')
      .where('outcome', '=', 'failure')
      .execute();
    expect(failure.map((f) => (f.details as { reason: string }).reason)).toContain('directory_rejected');

    const outsider = await login('carol', 'carol-password');
    expect(outsider.statusCode).toBe(403);
    const users = await t.container.db
      .selectFrom('users')
      .select('username')
      .where('username', '=', 'carol')
      .execute();
    expect(users).toHaveLength(0);

    expect((await login('*', 'alice-password')).statusCode).toBe(401);
    expect((await login('alice)(uid=*', 'alice-password')).statusCode).toBe(401);
    expect((await login('nobody', 'x')).statusCode).toBe(401);
  });

  it('local accounts still sign in, and a local account is never taken over by the directory', async () => {
    // The directory has an entry of the same name, in the admins' group, with another password.
    const local = await signIn(t, 'agent', { username: 'localuser' });
    const before = await t.container.db
      .selectFrom('users')
      .select(['role', 'auth_source', 'password_hash', 'display_name'])
      .where('id', '=', local.userId)
      .executeTakeFirstOrThrow();
    const res = await login('localuser', local.password);
    expect(res.statusCode).toBe(200);
    expect(res.json<{ user: { role: string; authSource: string } }>().user).toMatchObject({
      role: 'agent',
      authSource: 'local',
    });
    // The directory's password does not open the local account, and changes nothing in it.
    const takeover = await login('localuser', 'directory-password');
    expect(takeover.statusCode).toBe(401);
    expect(takeover.headers['set-cookie']).toBeUndefined();
    const after = await t.container.db
      .selectFrom('users')
      .select(['role', 'auth_source', 'password_hash', 'display_name'])
      .where('id', '=', local.userId)
      .executeTakeFirstOrThrow();
    expect(after).toEqual(before);
    expect(
      await t.container.db.selectFrom('users').select('id').where('username', '=', 'localuser').execute(),
    ).toHaveLength(1);
  });

  it('an unreachable directory gives 503 for directory users, not a crash', async () => {
    await ldap.stop();
    const res = await login('alice', 'alice-password');
    expect(res.statusCode).toBe(503);
  });
});
