import type { AuditActor } from '../platform/audit.ts';
import type { BackupService } from '../modules/backup/backup.service.ts';
import type { JobDefinition } from './scheduler.ts';

export const SCHEDULER_ACTOR: AuditActor = { id: null, name: 'system:scheduler', ip: null, userAgent: null };

/**
 * The scheduled backup: create, then (BACKUP_VERIFY) prove it by a restore into a scratch
 * database, then apply retention. Runs on one replica per slot (see scheduler.ts).
 */
export function backupJob(
  backup: Pick<BackupService, 'create' | 'verify' | 'prune' | 'encrypted' | 'canDecrypt'>,
  opts: { schedule: string; verify: boolean },
): JobDefinition {
  return {
    name: 'backup',
    schedule: opts.schedule,
    async run() {
      const created = await backup.create({ actor: SCHEDULER_ACTOR });
      const summary: Record<string, unknown> = {
        archive: created.record.archive,
        bytes: created.record.bytes,
        durationMs: created.record.durationMs,
      };
      if (!opts.verify) {
        summary.verification = 'disabled (BACKUP_VERIFY=false)';
      } else if (backup.encrypted && !backup.canDecrypt) {
        // By design the writer cannot read its archives; a verifier holding the key must.
        summary.verification = 'skipped: encrypted and no BACKUP_DECRYPT_PRIVATE_KEY here';
      } else {
        const verified = await backup.verify(created.path, { actor: SCHEDULER_ACTOR });
        summary.verification = verified.passed ? 'passed' : 'failed';
        summary.restoreMs = verified.restoreMs;
        if (!verified.passed) throw new Error(`backup verification failed: ${verified.problems.join('; ')}`);
      }
      const plan = await backup.prune();
      summary.pruned = plan.prune;
      return summary;
    },
  };
}
