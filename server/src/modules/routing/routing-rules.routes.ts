// Routing rules over HTTP (docs/ROUTING.md "Rules"; permissions in docs/SECURITY.md):
//   GET    /api/v1/routing/rules?channelId=       routing.read    the rules, in evaluation order
//   POST   /api/v1/routing/rules                  routing.manage  a new rule, last in its website
//   PATCH  /api/v1/routing/rules/:id              routing.manage  edit, enable / disable
//   DELETE /api/v1/routing/rules/:id              routing.manage
//   PUT    /api/v1/routing/rule-order             routing.manage  the website's rules in a new order
//   POST   /api/v1/routing/test                   routing.read    which rule a sample would hit
//   GET    /api/v1/routing/websites               routing.read    websites with their default team
//   PUT    /api/v1/routing/websites/:id/default-team  routing.manage
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { actorOf } from '../../platform/http/auth.plugin.ts';
import { ErrorResponse, IdParams, authErrors } from '../../platform/http/schemas.ts';
import {
  CreateRuleBody,
  DefaultTeamBody,
  ReorderBody,
  RuleList,
  RuleView,
  RulesQuery,
  TestBody,
  TestResult,
  UpdateRuleBody,
  WebsiteList,
  WebsiteView,
} from './routing-rules.schemas.ts';
import type { RoutingRulesService } from './routing-rules.service.ts';

export const routingRulesRoutes: FastifyPluginAsyncTypebox<{ routingRules: RoutingRulesService }> = async (
  app,
  { routingRules },
) => {
  const withNotFound = { ...authErrors, 404: ErrorResponse } as const;

  app.get(
    '/api/v1/routing/rules',
    {
      config: { access: 'routing.read' },
      schema: { querystring: RulesQuery, response: { 200: RuleList, ...authErrors } },
    },
    async (request) => ({ rules: await routingRules.list(actorOf(request), request.query.channelId) }),
  );

  app.post(
    '/api/v1/routing/rules',
    {
      config: { access: 'routing_rules.manage' },
      schema: { body: CreateRuleBody, response: { 201: RuleView, ...authErrors } },
    },
    async (request, reply) =>
      reply.status(201).send(await routingRules.create(actorOf(request), request.body)),
  );

  app.patch(
    '/api/v1/routing/rules/:id',
    {
      config: { access: 'routing_rules.manage' },
      schema: { params: IdParams, body: UpdateRuleBody, response: { 200: RuleView, ...withNotFound } },
    },
    async (request) => routingRules.update(actorOf(request), request.params.id, request.body),
  );

  app.delete(
    '/api/v1/routing/rules/:id',
    {
      config: { access: 'routing_rules.manage' },
      schema: { params: IdParams, response: { 204: Type.Null(), ...withNotFound } },
    },
    async (request, reply) => {
      await routingRules.remove(actorOf(request), request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.put(
    '/api/v1/routing/rule-order',
    {
      config: { access: 'routing_rules.manage' },
      schema: { body: ReorderBody, response: { 200: RuleList, ...authErrors } },
    },
    async (request) => ({ rules: await routingRules.reorder(actorOf(request), request.body) }),
  );

  app.post(
    '/api/v1/routing/test',
    {
      config: { access: 'routing.read' },
      schema: { body: TestBody, response: { 200: TestResult, ...authErrors } },
    },
    async (request) => routingRules.test(actorOf(request), request.body),
  );

  app.get(
    '/api/v1/routing/websites',
    {
      config: { access: 'routing.read' },
      schema: { response: { 200: WebsiteList, ...authErrors } },
    },
    async (request) => ({ websites: await routingRules.listWebsites(actorOf(request)) }),
  );

  app.put(
    '/api/v1/routing/websites/:id/default-team',
    {
      config: { access: 'routing_rules.manage' },
      schema: { params: IdParams, body: DefaultTeamBody, response: { 200: WebsiteView, ...authErrors } },
    },
    async (request) => routingRules.setDefaultTeam(actorOf(request), request.params.id, request.body.teamId),
  );
};
