import { PassThrough } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { actorOf } from '../../platform/http/auth.plugin.ts';
import { authErrors } from '../../platform/http/schemas.ts';
import { authorize } from '../identity/permissions.ts';
import type { AuditService } from './audit.service.ts';
import {
  AuditExportQuery,
  AuditHealthSchema,
  AuditListQuery,
  AuditRecordSchema,
  VerifyReportSchema,
} from './audit.schemas.ts';

export const auditRoutes: FastifyPluginAsyncTypebox<{ audit: AuditService }> = async (app, { audit }) => {
  app.get(
    '/api/v1/audit/records',
    {
      config: { access: 'audit.read' },
      schema: {
        querystring: AuditListQuery,
        response: { 200: Type.Object({ records: Type.Array(AuditRecordSchema) }), ...authErrors },
      },
    },
    async (request) => {
      const { afterSeq, limit, ...filter } = request.query;
      return { records: await audit.listRecords(actorOf(request), filter, afterSeq ?? 0, limit ?? 100) };
    },
  );

  // CSV (UTF-8 with BOM, manifest in the last row) or JSONL (manifest on the first line).
  app.get(
    '/api/v1/audit/export',
    {
      config: { access: 'audit.export' },
      schema: {
        querystring: AuditExportQuery,
        response: { 200: Type.Unknown({ description: 'the CSV or JSONL file' }), ...authErrors },
      },
    },
    async (request, reply) => {
      const { format, ...filter } = request.query;
      const actor = actorOf(request);
      authorize(actor, 'audit.export');
      const stream = new PassThrough();
      const write = (chunk: string) =>
        new Promise<void>((resolve, reject) => {
          if (stream.destroyed) return reject(new Error('client went away'));
          if (stream.write(chunk)) resolve();
          else stream.once('drain', resolve);
        });
      // The audit record is written before the first byte; a failure there is a normal error.
      let started!: () => void;
      const firstWrite = new Promise<void>((resolve) => (started = resolve));
      const done = audit
        .exportForActor(actor, filter, format, async (chunk) => {
          started();
          await write(chunk);
        })
        .then(() => stream.end());
      await Promise.race([firstWrite, done]);
      done.catch((err: unknown) => {
        request.log.error({ err }, 'audit export failed mid-stream');
        stream.destroy(err as Error);
      });
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      return reply
        .header(
          'content-type',
          format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
        )
        .header('content-disposition', `attachment; filename="parley-audit-${stamp}.${format}"`)
        .send(stream);
    },
  );

  app.get(
    '/api/v1/audit/verify',
    {
      config: { access: 'audit.read' },
      schema: { response: { 200: VerifyReportSchema, ...authErrors } },
    },
    async (request) => {
      authorize(actorOf(request), 'audit.read');
      return audit.verifyDatabase(null, undefined, undefined, { freshness: audit.freshness() });
    },
  );

  // Issue 21: the age of the newest checkpoint and external anchor, with an alert state.
  app.get(
    '/api/v1/audit/health',
    {
      config: { access: 'audit.read' },
      schema: { response: { 200: AuditHealthSchema, ...authErrors } },
    },
    async (request) => {
      authorize(actorOf(request), 'audit.read');
      return audit.health();
    },
  );
};
