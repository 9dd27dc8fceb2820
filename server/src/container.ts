// The composition root: repositories → services. Nothing else constructs services.
import type { Config } from './config/config.ts';
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

export function createContainer(deps: { config: Readonly<Config>; db: Database }) {
  const { config, db } = deps;
  const auditTrail = createAuditTrail();
  const identity = createIdentityService({
    db,
    repo: createIdentityRepository(),
    auditTrail,
    settings: config,
  });
  const teams = createTeamsService({ db, repo: createTeamsRepository(), auditTrail });
  const cannedReplies = createCannedRepliesService({ db, repo: createCannedRepliesRepository(), auditTrail });
  return {
    config,
    db,
    auditTrail,
    health: createHealth({ db }),
    metrics: createMetrics(),
    identity,
    teams,
    cannedReplies,
  };
}

export type Container = ReturnType<typeof createContainer>;
