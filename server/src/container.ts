// The composition root: repositories → services. Nothing else constructs services.
import type { Config } from './config/config.ts';
import { createAuditTrail } from './platform/audit.ts';
import type { Database } from './platform/db/database.ts';
import { createHealth } from './platform/health.ts';
import { createMetrics } from './platform/metrics.ts';
import { createIdentityRepository } from './modules/identity/identity.repository.ts';
import { createIdentityService } from './modules/identity/identity.service.ts';
import { createTeamsRepository } from './modules/teams/teams.repository.ts';
import { createTeamsService } from './modules/teams/teams.service.ts';
import { createContactsRepository } from './modules/contacts/contacts.repository.ts';
import { createContactsService } from './modules/contacts/contacts.service.ts';
import { createConversationsRepository } from './modules/conversations/conversations.repository.ts';
import { createConversationsService } from './modules/conversations/conversations.service.ts';
import { createVisitorTokens } from './modules/conversations/visitor-tokens.ts';
import { createEventBus } from './platform/events.ts';
import { createHub } from './realtime/hub.ts';
import { createPgBridge } from './realtime/pg-bridge.ts';
import { sql } from 'kysely';
import pino, { type Logger } from 'pino';

export function createContainer(deps: {
  config: Readonly<Config>;
  db: Database;
  /** Where the LISTEN connection goes (defaults to DATABASE_URL; the embedded one otherwise). */
  databaseUrl?: string | undefined;
  logger?: Logger | undefined;
}) {
  const { config, db } = deps;
  const logger = deps.logger ?? pino({ level: 'silent' });
  const auditTrail = createAuditTrail();
  const identity = createIdentityService({
    db,
    repo: createIdentityRepository(),
    auditTrail,
    settings: config,
  });
  const teams = createTeamsService({ db, repo: createTeamsRepository(), auditTrail });
  const bus = createEventBus();
  const contacts = createContactsService({ db, repo: createContactsRepository(), auditTrail });
  const conversations = createConversationsService({
    db,
    repo: createConversationsRepository(),
    contacts,
    auditTrail,
    tokens: createVisitorTokens({ db, configuredSecret: config.visitorTokenSecret }),
    bus,
    settings: config,
  });
  const hub = createHub({ loadCommitted: (...args) => conversations.loadCommitted(...args), logger });
  bus.onCommitted((batch) => void hub.offerLocal(batch));
  bus.onEphemeral((event) => hub.ephemeral(event));
  const databaseUrl = deps.databaseUrl ?? config.databaseUrl;
  const bridge = databaseUrl
    ? createPgBridge({
        databaseUrl,
        notify: async (channel, payload) => {
          await sql`select pg_notify(${channel}, ${payload})`.execute(db);
        },
        hub,
        bus,
        activitySince: (since) => conversations.activitySince(since),
        firstSeqSince: (id, since) => conversations.firstSeqSince(id, since),
        catchUpSeconds: config.realtimeCatchUpSeconds,
        logger,
        periodic: () => conversations.wakeSnoozed(),
      })
    : null;
  return {
    config,
    db,
    auditTrail,
    health: createHealth({ db }),
    metrics: createMetrics(),
    identity,
    teams,
    bus,
    contacts,
    conversations,
    hub,
    /** Cross-replica fan-out; `serve` starts it once the database is ready. */
    bridge,
  };
}

export type Container = ReturnType<typeof createContainer>;
