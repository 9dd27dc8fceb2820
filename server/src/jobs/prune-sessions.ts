import type { IdentityService } from '../modules/identity/identity.service.ts';
import type { JobDefinition } from './scheduler.ts';

/** Daily: delete sessions that expired or were revoked more than 30 days ago. */
export function pruneSessionsJob(identity: Pick<IdentityService, 'pruneSessions'>): JobDefinition {
  return {
    name: 'prune-sessions',
    schedule: '17 3 * * *',
    async run() {
      const result = await identity.pruneSessions(30);
      return { deleted: Number(result.numDeletedRows) };
    },
  };
}
