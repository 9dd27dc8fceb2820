import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { actorOf } from '../../platform/http/auth.plugin.ts';
import { authErrors, ErrorResponse } from '../../platform/http/schemas.ts';
import {
  AgentParams,
  RoutingAgentView,
  TeamMemberParams,
  TeamParams,
  TeamQueueView,
  TeamRoutingSettingsView,
  UpdateAgentRoutingBody,
  UpdateTeamRoutingBody,
} from './routing-queue.schemas.ts';
import { Type } from '@fastify/type-provider-typebox';
import { AgentAvailabilitySchema } from '../../realtime/events.ts';
import type { RoutingQueueService } from './routing-queue.service.ts';

const errors = { ...authErrors, 404: ErrorResponse };

export const routingQueueRoutes: FastifyPluginAsyncTypebox<{ routingQueue: RoutingQueueService }> = async (
  app,
  { routingQueue },
) => {
  app.get(
    '/api/v1/routing/teams/:teamId/settings',
    {
      config: { access: 'routing.read' },
      schema: { params: TeamParams, response: { 200: TeamRoutingSettingsView, ...errors } },
    },
    async (request) => routingQueue.getTeamSettings(actorOf(request), request.params.teamId),
  );

  app.patch(
    '/api/v1/routing/teams/:teamId/settings',
    {
      config: { access: 'routing.manage' },
      schema: {
        params: TeamParams,
        body: UpdateTeamRoutingBody,
        response: { 200: TeamRoutingSettingsView, ...errors },
      },
    },
    async (request) => routingQueue.updateTeamSettings(actorOf(request), request.params.teamId, request.body),
  );

  app.get(
    '/api/v1/routing/teams/:teamId/queue',
    {
      config: { access: 'routing.read' },
      schema: { params: TeamParams, response: { 200: TeamQueueView, ...errors } },
    },
    async (request) => routingQueue.teamQueue(actorOf(request), request.params.teamId),
  );

  app.patch(
    '/api/v1/routing/teams/:teamId/members/:userId',
    {
      config: { access: 'routing.manage' },
      schema: {
        params: TeamMemberParams,
        body: UpdateAgentRoutingBody,
        response: { 200: RoutingAgentView, ...errors },
      },
    },
    async (request) =>
      routingQueue.updateMember(actorOf(request), request.params.teamId, request.params.userId, request.body),
  );

  app.patch(
    '/api/v1/routing/agents/:userId',
    {
      config: { access: 'routing.manage' },
      schema: {
        params: AgentParams,
        body: UpdateAgentRoutingBody,
        response: {
          200: Type.Object({
            userId: Type.String(),
            capacity: Type.Union([Type.Integer(), Type.Null()]),
            status: Type.Union([AgentAvailabilitySchema, Type.Null()]),
          }),
          ...errors,
        },
      },
    },
    async (request) => routingQueue.updateAgent(actorOf(request), request.params.userId, request.body),
  );
};
