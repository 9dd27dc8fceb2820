import type { AttachmentStore } from '../modules/conversations/attachment-store.ts';
import type { Database } from '../platform/db/database.ts';
import type { JobDefinition } from './scheduler.ts';

/**
 * Daily: removes attachment files no row names (a crash between writing the file and
 * committing its row, or files of erased rows not removed while a backup was running).
 */
export function attachmentOrphansJob(
  store: Pick<AttachmentStore, 'sweepOrphans'>,
  db: Database,
): JobDefinition {
  return {
    name: 'attachment-orphans',
    schedule: '41 3 * * *',
    async run() {
      return { ...(await store.sweepOrphans(db)) };
    },
  };
}
