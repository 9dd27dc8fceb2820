import type { AuditService } from '../modules/audit/audit.service.ts';
import type { JobDefinition } from './scheduler.ts';

/** Daily (when AUDIT_ARCHIVE_ENABLED): archive audit records past retention, then prune them. */
export function auditArchiveJob(audit: Pick<AuditService, 'archive'>): JobDefinition {
  return {
    name: 'audit-archive',
    schedule: '41 2 * * *',
    async run() {
      const result = await audit.archive();
      return result.archived
        ? { archived: true, file: result.file, firstSeq: result.firstSeq, lastSeq: result.lastSeq }
        : result;
    },
  };
}
