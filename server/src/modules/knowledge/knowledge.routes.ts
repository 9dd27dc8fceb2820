import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { actorOf } from '../../platform/http/auth.plugin.ts';
import { ErrorResponse, IdParams, authErrors } from '../../platform/http/schemas.ts';
import { MAX_IMPORT_BYTES, type KnowledgeImportService } from './knowledge-import.service.ts';
import type { KnowledgeService } from './knowledge.service.ts';
import {
  BulkEnableBody,
  CategorySchema,
  CreateCategoryBody,
  CreateEntryBody,
  DictionaryWordBody,
  DictionaryWordSchema,
  EntryListSchema,
  EntrySchema,
  ExportQuery,
  ImportQuery,
  ImportReportSchema,
  ListEntriesQuery,
  SynonymGroupBody,
  SynonymGroupSchema,
  UpdateCategoryBody,
  UpdateEntryBody,
  VersionSchema,
} from './knowledge.schemas.ts';

// knowledge.read browses; knowledge.manage (the knowledge admin) changes, imports and exports.
export const knowledgeRoutes: FastifyPluginAsyncTypebox<{
  knowledge: KnowledgeService;
  knowledgeImport: KnowledgeImportService;
}> = async (app, { knowledge, knowledgeImport }) => {
  const withNotFound = { ...authErrors, 404: ErrorResponse } as const;
  const withConflict = { ...withNotFound, 409: ErrorResponse } as const;
  const base = '/api/v1/knowledge';

  // Import files arrive as the request body (the console sends the File as it is).
  app.addContentTypeParser(
    [
      'application/octet-stream',
      'text/csv',
      'application/x-ndjson',
      'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    ],
    { parseAs: 'buffer', bodyLimit: MAX_IMPORT_BYTES },
    (_request, body, done) => done(null, body),
  );

  app.get(
    `${base}/entries`,
    {
      config: { access: 'knowledge.read' },
      schema: { querystring: ListEntriesQuery, response: { 200: EntryListSchema, ...authErrors } },
    },
    async (request) => knowledge.listEntries(actorOf(request), request.query),
  );

  app.get(
    `${base}/entries/:id`,
    {
      config: { access: 'knowledge.read' },
      schema: { params: IdParams, response: { 200: EntrySchema, ...withNotFound } },
    },
    async (request) => knowledge.getEntry(actorOf(request), request.params.id),
  );

  app.post(
    `${base}/entries`,
    {
      config: { access: 'knowledge.manage' },
      schema: { body: CreateEntryBody, response: { 201: EntrySchema, ...withConflict } },
    },
    async (request, reply) =>
      reply.status(201).send(await knowledge.createEntry(actorOf(request), request.body)),
  );

  app.patch(
    `${base}/entries/:id`,
    {
      config: { access: 'knowledge.manage' },
      schema: { params: IdParams, body: UpdateEntryBody, response: { 200: EntrySchema, ...withConflict } },
    },
    async (request) => knowledge.updateEntry(actorOf(request), request.params.id, request.body),
  );

  app.delete(
    `${base}/entries/:id`,
    {
      config: { access: 'knowledge.manage' },
      schema: { params: IdParams, response: { 204: Type.Null(), ...withNotFound } },
    },
    async (request, reply) => {
      await knowledge.deleteEntry(actorOf(request), request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.post(
    `${base}/entries/enabled`,
    {
      config: { access: 'knowledge.manage' },
      schema: {
        body: BulkEnableBody,
        response: { 200: Type.Object({ changed: Type.Array(Type.String()) }), ...authErrors },
      },
    },
    async (request) => knowledge.setEnabled(actorOf(request), request.body.ids, request.body.enabled),
  );

  app.get(
    `${base}/entries/:id/versions`,
    {
      config: { access: 'knowledge.read' },
      schema: {
        params: IdParams,
        response: { 200: Type.Object({ versions: Type.Array(VersionSchema) }), ...withNotFound },
      },
    },
    async (request) => ({ versions: await knowledge.versions(actorOf(request), request.params.id) }),
  );

  app.get(
    `${base}/categories`,
    {
      config: { access: 'knowledge.read' },
      schema: { response: { 200: Type.Object({ categories: Type.Array(CategorySchema) }), ...authErrors } },
    },
    async (request) => ({ categories: await knowledge.listCategories(actorOf(request)) }),
  );

  app.post(
    `${base}/categories`,
    {
      config: { access: 'knowledge.manage' },
      schema: { body: CreateCategoryBody, response: { 201: CategorySchema, ...withConflict } },
    },
    async (request, reply) =>
      reply.status(201).send(await knowledge.createCategory(actorOf(request), request.body)),
  );

  app.patch(
    `${base}/categories/:id`,
    {
      config: { access: 'knowledge.manage' },
      schema: {
        params: IdParams,
        body: UpdateCategoryBody,
        response: { 200: CategorySchema, ...withConflict },
      },
    },
    async (request) => knowledge.updateCategory(actorOf(request), request.params.id, request.body),
  );

  app.delete(
    `${base}/categories/:id`,
    {
      config: { access: 'knowledge.manage' },
      schema: { params: IdParams, response: { 204: Type.Null(), ...withConflict } },
    },
    async (request, reply) => {
      await knowledge.deleteCategory(actorOf(request), request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.get(
    `${base}/synonyms`,
    {
      config: { access: 'knowledge.read' },
      schema: { response: { 200: Type.Object({ groups: Type.Array(SynonymGroupSchema) }), ...authErrors } },
    },
    async (request) => ({ groups: await knowledge.listSynonyms(actorOf(request)) }),
  );

  app.post(
    `${base}/synonyms`,
    {
      config: { access: 'knowledge.manage' },
      schema: { body: SynonymGroupBody, response: { 201: SynonymGroupSchema, ...authErrors } },
    },
    async (request, reply) =>
      reply.status(201).send(await knowledge.createSynonymGroup(actorOf(request), request.body.words)),
  );

  app.put(
    `${base}/synonyms/:id`,
    {
      config: { access: 'knowledge.manage' },
      schema: {
        params: IdParams,
        body: SynonymGroupBody,
        response: { 200: SynonymGroupSchema, ...withNotFound },
      },
    },
    async (request) => knowledge.updateSynonymGroup(actorOf(request), request.params.id, request.body.words),
  );

  app.delete(
    `${base}/synonyms/:id`,
    {
      config: { access: 'knowledge.manage' },
      schema: { params: IdParams, response: { 204: Type.Null(), ...withNotFound } },
    },
    async (request, reply) => {
      await knowledge.deleteSynonymGroup(actorOf(request), request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.get(
    `${base}/dictionary`,
    {
      config: { access: 'knowledge.read' },
      schema: { response: { 200: Type.Object({ words: Type.Array(DictionaryWordSchema) }), ...authErrors } },
    },
    async (request) => ({ words: await knowledge.listDictionary(actorOf(request)) }),
  );

  app.post(
    `${base}/dictionary`,
    {
      config: { access: 'knowledge.manage' },
      schema: {
        body: DictionaryWordBody,
        response: { 201: DictionaryWordSchema, ...authErrors, 409: ErrorResponse },
      },
    },
    async (request, reply) => reply.status(201).send(await knowledge.addWord(actorOf(request), request.body)),
  );

  app.delete(
    `${base}/dictionary/:id`,
    {
      config: { access: 'knowledge.manage' },
      schema: { params: IdParams, response: { 204: Type.Null(), ...withNotFound } },
    },
    async (request, reply) => {
      await knowledge.removeWord(actorOf(request), request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.post(
    `${base}/imports`,
    {
      config: { access: 'knowledge.manage' },
      bodyLimit: MAX_IMPORT_BYTES,
      schema: {
        querystring: ImportQuery,
        response: { 202: ImportReportSchema, ...authErrors, 413: ErrorResponse },
      },
    },
    async (request, reply) => {
      const bytes = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const report = await knowledgeImport.start(actorOf(request), {
        fileName: request.query.fileName,
        format: request.query.format,
        dryRun: request.query.dryRun ?? false,
        bytes,
      });
      return reply.status(202).send(report);
    },
  );

  app.get(
    `${base}/imports/:id`,
    {
      config: { access: 'knowledge.manage' },
      schema: { params: IdParams, response: { 200: ImportReportSchema, ...withNotFound } },
    },
    async (request) => knowledgeImport.report(actorOf(request), request.params.id),
  );

  app.get(
    `${base}/export`,
    {
      config: { access: 'knowledge.manage' },
      schema: { querystring: ExportQuery, response: { 200: Type.Unknown(), ...authErrors } },
    },
    async (request, reply) => {
      const format = request.query.format;
      const file = await knowledgeImport.export(actorOf(request), format);
      const stamp = new Date().toISOString().slice(0, 10);
      return reply
        .header(
          'content-type',
          format === 'xlsx'
            ? 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'
            : format === 'csv'
              ? 'text/csv; charset=utf-8'
              : 'application/x-ndjson; charset=utf-8',
        )
        .header('content-disposition', `attachment; filename="parley-faq-${stamp}.${format}"`)
        .send(file);
    },
  );
};
