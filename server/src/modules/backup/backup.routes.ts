import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { actorOf } from '../../platform/http/auth.plugin.ts';
import { authErrors } from '../../platform/http/schemas.ts';
import { BackupOverviewSchema } from './backup.schemas.ts';
import type { BackupService } from './backup.service.ts';

/** Read-only: backups are made by the scheduler or the CLI, never over HTTP. */
export const backupRoutes: FastifyPluginAsyncTypebox<{ backup: BackupService }> = async (app, { backup }) => {
  app.get(
    '/api/v1/backups',
    {
      config: { access: 'backups.read' },
      schema: { response: { 200: BackupOverviewSchema, ...authErrors } },
    },
    async (request) => backup.overview(actorOf(request)),
  );
};
