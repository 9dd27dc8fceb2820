// The composition root: repositories → services. Nothing else constructs services.
import type { Logger } from 'pino';
import type { Config } from './config/config.ts';
import { pruneSessionsJob } from './jobs/prune-sessions.ts';
import { createScheduler } from './jobs/scheduler.ts';
import { createAuditTrail } from './platform/audit.ts';
import type { Database } from './platform/db/database.ts';
import { createHealth } from './platform/health.ts';
import { createMetrics } from './platform/metrics.ts';
import { createCannedRepliesRepository } from './modules/canned-replies/canned-replies.repository.ts';
import { createCannedRepliesService } from './modules/canned-replies/canned-replies.service.ts';
import { createIdentityRepository } from './modules/identity/identity.repository.ts';
import { createIdentityService } from './modules/identity/identity.service.ts';
import { createTeamsRepository } from './modules/teams/teams.repository.ts';
import { createTeamsService } from './modules/teams/teams.service.ts';

export function createContainer(deps: { config: Readonly<Config>; db: Database; logger: Logger }) {
  const { config, db, logger } = deps;
  const auditTrail = createAuditTrail();
  const identity = createIdentityService({
    db,
    repo: createIdentityRepository(),
    auditTrail,
    settings: config,
  });
  const teams = createTeamsService({ db, repo: createTeamsRepository(), auditTrail });
  const cannedReplies = createCannedRepliesService({ db, repo: createCannedRepliesRepository(), auditTrail });
  const scheduler = createScheduler({ db, logger, timezone: config.timezone });
  scheduler.register(pruneSessionsJob(identity));
  return {
    config,
    db,
    auditTrail,
    health: createHealth({ db }),
    metrics: createMetrics(),
    scheduler,
    identity,
    teams,
    cannedReplies,
  };
}

export type Container = ReturnType<typeof createContainer>;
