import type { RetentionService } from '../modules/security/retention.service.ts';
import type { JobDefinition } from './scheduler.ts';

/** Daily: the conversation retention policy (a dry-run report unless CONVERSATION_RETENTION_ERASE). */
export function conversationRetentionJob(
  retention: Pick<RetentionService, 'run'>,
  erase: boolean,
): JobDefinition {
  return {
    name: 'conversation-retention',
    schedule: '23 3 * * *',
    async run() {
      return { ...(await retention.run({ erase })) };
    },
  };
}
