import { timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import type { Health } from '../../platform/health.ts';
import type { Metrics } from '../../platform/metrics.ts';
import { UnauthorizedError } from '../../platform/errors.ts';
import { ErrorResponse } from '../../platform/http/schemas.ts';
import { PARLEY_VERSION } from '../../platform/version.ts';

const Check = Type.Object({ ok: Type.Boolean(), detail: Type.String() });
const Readiness = Type.Object({
  ready: Type.Boolean(),
  checks: Type.Object({ database: Check, migrations: Check }),
});

export const systemRoutes: FastifyPluginAsyncTypebox<{
  health: Health;
  metrics: Metrics;
  metricsToken: string | undefined;
}> = async (app, { health, metrics, metricsToken }) => {
  app.get(
    '/healthz',
    {
      config: { access: 'public' },
      logLevel: 'warn',
      schema: { response: { 200: Type.Object({ status: Type.Literal('ok'), version: Type.String() }) } },
    },
    async () => ({ status: 'ok' as const, version: PARLEY_VERSION }),
  );

  app.get(
    '/readyz',
    {
      config: { access: 'public' },
      logLevel: 'warn',
      schema: { response: { 200: Readiness, 503: Readiness } },
    },
    async (_request, reply) => {
      const report = await health.readiness();
      metrics.ready.set(report.ready ? 1 : 0);
      return reply.status(report.ready ? 200 : 503).send(report);
    },
  );

  app.get(
    '/metrics',
    {
      config: { access: 'public' },
      logLevel: 'warn',
      schema: { response: { 200: Type.String(), 401: ErrorResponse } },
    },
    async (request, reply) => {
      if (metricsToken) {
        const given = Buffer.from(request.headers.authorization ?? '');
        const wanted = Buffer.from(`Bearer ${metricsToken}`);
        if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) {
          throw new UnauthorizedError('A valid metrics token is required.');
        }
      }
      void reply.header('content-type', metrics.registry.contentType);
      return metrics.registry.metrics();
    },
  );

  app.get(
    '/api/v1/version',
    {
      config: { access: 'public' },
      schema: { response: { 200: Type.Object({ version: Type.String() }) } },
    },
    async () => ({ version: PARLEY_VERSION }),
  );
};
