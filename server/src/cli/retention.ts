import type { Config } from '../config/config.ts';
import { createContainer } from '../container.ts';
import { createLogger } from '../platform/logger.ts';
import { withDatabase } from './database.ts';

/** `parley retention report`: the dry run, printed. */
export async function retentionReport(config: Readonly<Config>): Promise<number> {
  return withDatabase(config, async (handle) => {
    const c = createContainer({ config, db: handle.db, logger: createLogger('warn') });
    const r = await c.retention.run({ erase: false });
    if (!r.enabled) {
      console.log('conversation retention is off (CONVERSATION_RETENTION_DAYS=0)');
      return 0;
    }
    console.log(
      `${r.eligible} resolved conversation(s) idle since before ${r.cutoff} would be erased` +
        (r.oldestActivity ? ` (oldest activity ${r.oldestActivity})` : '') +
        (config.conversationRetentionErase
          ? '; the daily job erases them'
          : '; dry run only (set CONVERSATION_RETENTION_ERASE=true to erase)'),
    );
    return 0;
  });
}
