// Who may call what: the expected HTTP status of every route for every kind of caller.
// This is data, written and reviewed by a person against docs/SECURITY.md ("Roles and
// permissions") and the product rules; it is NOT computed from the routes' `config.access` or
// from roleHas(). server/test/medium/route-matrix.test.ts calls every registered route as each
// caller and fails on any difference, and on any route that has no row here.
//
// How each route is called (server/test/medium/route-matrix.test.ts): path parameters are random
// UUIDs (so an allowed caller gets 404 from a route about one object, and nothing is changed),
// writes send `{}` (so an allowed caller gets 400 and nothing is changed) — except the widget
// routes, which name the visitor's own conversation, message and attachment and send a valid
// body, so "otherVisitor" asks for something that exists but is not theirs.
//
// Columns:
//   anon        no cookie, no token
//   admin … aud a signed-in session of that role (aud = auditor, sup = supervisor)
//   visitor     the bearer token of the visitor who owns the conversation the call names
//   other       the bearer token of another visitor (widget routes must answer as if not found)
//   token       an API token WITHOUT the route's scope. API tokens do not exist yet: every row
//               says "-" until they do; then each row gets its status (403 for a staff route).
//
// Statuses worth knowing: 401 not signed in (or no / bad visitor token), 403 the role lacks the
// permission, 404 the object is not there or not visible to this caller, 400 the empty body was
// refused after the access check passed, 101 a WebSocket upgrade accepted (WebSocket routes are
// called with a real upgrade).
//
// Adding a route: add its row in the same change, deciding each cell from the permission table
// in docs/SECURITY.md, not by copying what the test prints (docs/TESTING.md).

export const CALLERS = [
  'anonymous',
  'admin',
  'supervisor',
  'agent',
  'auditor',
  'visitor',
  'otherVisitor',
  'apiTokenWithoutScope',
] as const;
export type Caller = (typeof CALLERS)[number];

export interface RouteRow {
  /** "METHOD /path/:param", as the app registers it. */
  route: string;
  /** The expected status per caller; null: not applicable yet (the API-token column). */
  expected: Record<Caller, number | null>;
}

// prettier-ignore
export const ROUTE_TABLE = `
# method route                                              anon  admin sup   agent aud   visitor other token

# System: liveness and readiness are open; /metrics wants PARLEY_METRICS_TOKEN; the console's
# pages are open (it signs in itself)
GET    /healthz                                            200   200   200   200   200   200   200   -
GET    /readyz                                             200   200   200   200   200   200   200   -
GET    /metrics                                            401   401   401   401   401   401   401   -
GET    /api/v1/version                                     200   200   200   200   200   200   200   -
GET    /*                                                  200   200   200   200   200   200   200   -

# Sign-in and one's own account: anyone may try to sign in; every signed-in role manages its own
# sessions, password and 2FA (totp/setup: 409, no encryption key configured)
POST   /api/v1/auth/login                                  400   400   400   400   400   400   400   -
POST   /api/v1/auth/login/second-factor                    400   400   400   400   400   400   400   -
POST   /api/v1/auth/logout                                 401   204   204   204   204   401   401   -
GET    /api/v1/auth/me                                     401   200   200   200   200   401   401   -
POST   /api/v1/auth/password                               401   400   400   400   400   401   401   -
GET    /api/v1/auth/sessions                               401   200   200   200   200   401   401   -
DELETE /api/v1/auth/sessions/:id                           401   404   404   404   404   401   401   -
POST   /api/v1/auth/totp/setup                             401   409   409   409   409   401   401   -
POST   /api/v1/auth/totp/enable                            401   400   400   400   400   401   401   -
POST   /api/v1/auth/totp/disable                           401   400   400   400   400   401   401   -

# Users: admins and supervisors read; only admins change accounts or see/end others' sessions
GET    /api/v1/users                                       401   200   200   403   403   401   401   -
GET    /api/v1/users/:id                                   401   404   404   403   403   401   401   -
POST   /api/v1/users                                       401   400   403   403   403   401   401   -
PATCH  /api/v1/users/:id                                   401   400   403   403   403   401   401   -
GET    /api/v1/users/:id/sessions                          401   404   403   403   403   401   401   -
POST   /api/v1/users/:id/totp/reset                        401   404   403   403   403   401   401   -
POST   /api/v1/users/:id/reset-password                    401   404   403   403   403   401   401   -

# Teams: admins, supervisors and agents read; only admins change; auditors never
GET    /api/v1/teams                                       401   200   200   200   403   401   401   -
GET    /api/v1/teams/:id                                   401   404   404   404   403   401   401   -
POST   /api/v1/teams                                       401   400   403   403   403   401   401   -
PATCH  /api/v1/teams/:id                                   401   400   403   403   403   401   401   -
DELETE /api/v1/teams/:id                                   401   404   403   403   403   401   401   -
PUT    /api/v1/teams/:id/members/:userId                   401   404   403   403   403   401   401   -
DELETE /api/v1/teams/:id/members/:userId                   401   404   403   403   403   401   401   -

# Contacts: staff who chat read and edit; personal data unmasked (reveal) and data-subject
# requests are admins' only; auditors never
GET    /api/v1/contacts                                    401   200   200   200   403   401   401   -
GET    /api/v1/contacts/:id                                401   404   404   404   403   401   401   -
PATCH  /api/v1/contacts/:id                                401   400   400   400   403   401   401   -
POST   /api/v1/contacts/:id/reveal                         401   404   403   403   403   401   401   -
GET    /api/v1/contacts/:id/export                         401   404   403   403   403   401   401   -
POST   /api/v1/contacts/:id/erasure-request                401   404   403   403   403   401   401   -
POST   /api/v1/contacts/:id/erase                          401   400   403   403   403   401   401   -

# Conversations: admins, supervisors and agents read, reply and manage; assigning is for admins
# and supervisors; deleting and revealing a masked message are admins' only; auditors never see
# chats. GET /api/v1/ws is the agent socket: it opens (101) for the roles that read chats
GET    /api/v1/conversations                               401   200   200   200   403   401   401   -
GET    /api/v1/conversations/counts                        401   200   200   200   403   401   401   -
GET    /api/v1/conversations/:id                           401   404   404   404   403   401   401   -
DELETE /api/v1/conversations/:id                           401   404   403   403   403   401   401   -
GET    /api/v1/conversations/:id/messages                  401   404   404   404   403   401   401   -
POST   /api/v1/conversations/:id/messages                  401   400   400   400   403   401   401   -
POST   /api/v1/conversations/:id/attachments               401   400   400   400   403   401   401   -
GET    /api/v1/attachments/:id                             401   404   404   404   403   401   401   -
POST   /api/v1/conversations/:id/read                      401   400   400   400   403   401   401   -
POST   /api/v1/conversations/:id/claim                     401   404   404   404   403   401   401   -
POST   /api/v1/conversations/:id/assign                    401   400   400   403   403   401   401   -
POST   /api/v1/conversations/:id/transfer                  401   400   400   400   403   401   401   -
POST   /api/v1/conversations/:id/resolve                   401   404   404   404   403   401   401   -
POST   /api/v1/conversations/:id/reopen                    401   404   404   404   403   401   401   -
POST   /api/v1/conversations/:id/pending                   401   404   404   404   403   401   401   -
POST   /api/v1/conversations/:id/snooze                    401   400   400   400   403   401   401   -
POST   /api/v1/conversations/:id/priority                  401   400   400   400   403   401   401   -
POST   /api/v1/messages/:id/recall                         401   404   404   404   403   401   401   -
PATCH  /api/v1/messages/:id                                401   400   400   400   403   401   401   -
POST   /api/v1/messages/:id/reveal                         401   404   403   403   403   401   401   -
GET    /api/v1/ws                                          401   101   101   101   403   401   401   -

# Canned replies: every role that chats uses them (team/global management is checked in the
# service); auditors never
GET    /api/v1/canned-replies                              401   200   200   200   403   401   401   -
GET    /api/v1/canned-replies/:id                          401   404   404   404   403   401   401   -
POST   /api/v1/canned-replies                              401   400   400   400   403   401   401   -
PATCH  /api/v1/canned-replies/:id                          401   400   400   400   403   401   401   -
DELETE /api/v1/canned-replies/:id                          401   404   404   404   403   401   401   -

# Knowledge base: agents, supervisors and admins browse (knowledge.read); the knowledge admin
# (knowledge.manage: admins and supervisors) edits, imports and exports; auditors never
GET    /api/v1/knowledge/entries                           401   200   200   200   403   401   401   -
GET    /api/v1/knowledge/entries/:id                       401   404   404   404   403   401   401   -
POST   /api/v1/knowledge/entries                           401   400   400   403   403   401   401   -
PATCH  /api/v1/knowledge/entries/:id                       401   400   400   403   403   401   401   -
DELETE /api/v1/knowledge/entries/:id                       401   404   404   403   403   401   401   -
POST   /api/v1/knowledge/entries/enabled                   401   400   400   403   403   401   401   -
GET    /api/v1/knowledge/entries/:id/versions              401   404   404   404   403   401   401   -
GET    /api/v1/knowledge/categories                        401   200   200   200   403   401   401   -
POST   /api/v1/knowledge/categories                        401   400   400   403   403   401   401   -
PATCH  /api/v1/knowledge/categories/:id                    401   400   400   403   403   401   401   -
DELETE /api/v1/knowledge/categories/:id                    401   404   404   403   403   401   401   -
GET    /api/v1/knowledge/synonyms                          401   200   200   200   403   401   401   -
POST   /api/v1/knowledge/synonyms                          401   400   400   403   403   401   401   -
PUT    /api/v1/knowledge/synonyms/:id                      401   400   400   403   403   401   401   -
DELETE /api/v1/knowledge/synonyms/:id                      401   404   404   403   403   401   401   -
GET    /api/v1/knowledge/dictionary                        401   200   200   200   403   401   401   -
POST   /api/v1/knowledge/dictionary                        401   400   400   403   403   401   401   -
DELETE /api/v1/knowledge/dictionary/:id                    401   404   404   403   403   401   401   -
POST   /api/v1/knowledge/imports                           401   400   400   403   403   401   401   -
GET    /api/v1/knowledge/imports/:id                       401   404   404   403   403   401   401   -
GET    /api/v1/knowledge/export                            401   400   400   403   403   401   401   -

# Channels and widget settings: admins only
GET    /api/v1/channels                                    401   200   403   403   403   401   401   -
GET    /api/v1/channels/:id/widget                         401   404   403   403   403   401   401   -
PATCH  /api/v1/channels/:id/widget                         401   404   403   403   403   401   401   -
POST   /api/v1/channels                                    401   400   403   403   403   401   401   -

# The visitor widget. Files and the public config are open. The visitor API wants the visitor's
# own token: no token (and a staff cookie is no token) 401; another visitor's token 404 on the
# first visitor's conversation, message and attachment, as if they did not exist.
# /api/v1/widget/ws opens for anyone and checks the token in its hello frame
# (server/test/medium/conversations.test.ts)
POST   /api/v1/widget/session                              200   200   200   200   200   200   200   -
GET    /api/v1/widget/conversations                        401   401   401   401   401   200   200   -
POST   /api/v1/widget/conversations                        401   401   401   401   401   200   200   -
GET    /api/v1/widget/conversations/:id/messages           401   401   401   401   401   200   404   -
POST   /api/v1/widget/conversations/:id/messages           401   401   401   401   401   201   404   -
POST   /api/v1/widget/conversations/:id/attachments        401   401   401   401   401   201   404   -
GET    /api/v1/widget/attachments/:id                      401   401   401   401   401   200   404   -
POST   /api/v1/widget/conversations/:id/read               401   401   401   401   401   200   404   -
POST   /api/v1/widget/messages/:id/recall                  401   401   401   401   401   200   404   -
GET    /api/v1/widget/ws                                   101   101   101   101   101   101   101   -
GET    /widget.js                                          200   200   200   200   200   200   200   -
GET    /widget/assets/:file                                200   200   200   200   200   200   200   -
GET    /widget/demo/:file                                  200   200   200   200   200   200   200   -
GET    /widget/frame                                       200   200   200   200   200   200   200   -
GET    /demo                                               200   200   200   200   200   200   200   -
GET    /api/v1/widget/config                               200   200   200   200   200   200   200   -
POST   /api/v1/widget/profile                              401   401   401   401   401   200   200   -
# Off hours: anyone may ask when a site's team is open (like the config); a visitor leaves a
# message as themselves
GET    /api/v1/widget/hours                                200   200   200   200   200   200   200   -
POST   /api/v1/widget/leave-message                        401   401   401   401   401   200   200   -

# Business hours: admins manage calendars and team links; supervisors read them (their teams'
# hours and holidays); agents and auditors do not (docs/SECURITY.md)
GET    /api/v1/business-hours/calendars                    401   200   200   403   403   401   401   -
POST   /api/v1/business-hours/calendars                    401   400   403   403   403   401   401   -
GET    /api/v1/business-hours/calendars/:id                401   404   404   403   403   401   401   -
PATCH  /api/v1/business-hours/calendars/:id                401   400   403   403   403   401   401   -
DELETE /api/v1/business-hours/calendars/:id                401   404   403   403   403   401   401   -
POST   /api/v1/business-hours/calendars/:id/prc-years/:year 401  400   403   403   403   401   401   -
GET    /api/v1/business-hours/calendars/:id/ics            401   404   404   403   403   401   401   -
POST   /api/v1/business-hours/calendars/:id/ics            401   400   403   403   403   401   401   -
GET    /api/v1/business-hours/holiday-data                 401   200   200   403   403   401   401   -
GET    /api/v1/business-hours/teams                        401   200   200   403   403   401   401   -
PUT    /api/v1/business-hours/teams/:teamId                401   400   403   403   403   401   401   -

# Backups, audit trail, security settings: backups and security settings are admins'; the audit
# trail is for admins and auditors
GET    /api/v1/backups                                     401   200   403   403   403   401   401   -
GET    /api/v1/audit/records                               401   200   403   403   200   401   401   -
GET    /api/v1/audit/export                                401   200   403   403   200   401   401   -
GET    /api/v1/audit/verify                                401   200   403   403   200   401   401   -
GET    /api/v1/audit/health                                401   200   403   403   200   401   401   -
GET    /api/v1/security/settings                           401   200   403   403   403   401   401   -
PATCH  /api/v1/security/settings                           401   200   403   403   403   401   401   -

# Agent availability (online / busy / away / offline): staff who take chats read their colleagues'
# and set their own; the auditor takes no chats
GET    /api/v1/availability                                401   200   200   200   403   401   401   -
PUT    /api/v1/availability/me                             401   400   400   400   403   401   401   -

# Routing engine (docs/ROUTING.md): a team's queue and settings, its members' capacity and status.
# Supervisors and admins (supervisors only for their own teams: a random team is not found);
# agents and the auditor do not manage routing
GET    /api/v1/routing/teams/:teamId/settings              401   404   404   403   403   401   401   -
PATCH  /api/v1/routing/teams/:teamId/settings              401   400   400   403   403   401   401   -
GET    /api/v1/routing/teams/:teamId/queue                 401   404   404   403   403   401   401   -
PATCH  /api/v1/routing/teams/:teamId/members/:userId       401   400   400   403   403   401   401   -
PATCH  /api/v1/routing/agents/:userId                      401   400   400   403   403   401   401   -
# Routing rules (docs/ROUTING.md "Rules"): admins manage them and websites' default teams;
# supervisors read them and use the test box (they explain routing to their teams); agents and
# auditors have no part in it
GET    /api/v1/routing/rules                               401   200   200   403   403   401   401   -
POST   /api/v1/routing/rules                               401   400   403   403   403   401   401   -
PATCH  /api/v1/routing/rules/:id                           401   400   403   403   403   401   401   -
DELETE /api/v1/routing/rules/:id                           401   404   403   403   403   401   401   -
PUT    /api/v1/routing/rule-order                          401   400   403   403   403   401   401   -
POST   /api/v1/routing/test                                401   400   400   403   403   401   401   -
GET    /api/v1/routing/websites                            401   200   200   403   403   401   401   -
PUT    /api/v1/routing/websites/:id/default-team           401   400   403   403   403   401   401   -
`;

/** Parses the table above; a malformed line throws, naming it. */
export function parseRouteTable(text: string): RouteRow[] {
  const rows: RouteRow[] = [];
  const seen = new Set<string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const cells = line.split(/\s+/);
    if (cells.length !== 2 + CALLERS.length) {
      throw new Error(`route table: expected ${2 + CALLERS.length} columns in "${line}"`);
    }
    const route = `${cells[0]} ${cells[1]}`;
    if (seen.has(route)) throw new Error(`route table: ${route} appears twice`);
    seen.add(route);
    const expected = {} as Record<Caller, number | null>;
    CALLERS.forEach((caller, i) => {
      const cell = cells[2 + i]!;
      if (cell === '-') expected[caller] = null;
      else if (/^[1-5]\d\d$/.test(cell)) expected[caller] = Number(cell);
      else throw new Error(`route table: "${cell}" is not a status (${route}, ${caller})`);
    });
    rows.push({ route, expected });
  }
  return rows;
}
