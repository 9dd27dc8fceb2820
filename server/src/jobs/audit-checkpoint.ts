import type { AuditService } from '../modules/audit/audit.service.ts';
import type { JobDefinition } from './scheduler.ts';

/** Signs the head of the audit chain (default every 10 minutes: AUDIT_CHECKPOINT_SCHEDULE). */
export function auditCheckpointJob(audit: Pick<AuditService, 'checkpoint'>, schedule: string): JobDefinition {
  return {
    name: 'audit-checkpoint',
    schedule,
    async run() {
      return audit.checkpoint();
    },
  };
}
