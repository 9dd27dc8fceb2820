import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { actorOf } from '../../platform/http/auth.plugin.ts';
import { ErrorResponse, IdParams, authErrors } from '../../platform/http/schemas.ts';
import type { TeamsService } from './teams.service.ts';
import { CreateTeamBody, MemberParams, TeamSchema, UpdateTeamBody } from './teams.schemas.ts';

export const teamsRoutes: FastifyPluginAsyncTypebox<{ teams: TeamsService }> = async (app, { teams }) => {
  const withNotFound = { ...authErrors, 404: ErrorResponse } as const;

  app.get(
    '/api/v1/teams',
    {
      config: { access: 'teams.read' },
      schema: { response: { 200: Type.Object({ teams: Type.Array(TeamSchema) }), ...authErrors } },
    },
    async (request) => ({ teams: await teams.listTeams(actorOf(request)) }),
  );

  app.get(
    '/api/v1/teams/:id',
    {
      config: { access: 'teams.read' },
      schema: { params: IdParams, response: { 200: TeamSchema, ...withNotFound } },
    },
    async (request) => teams.getTeam(actorOf(request), request.params.id),
  );

  app.post(
    '/api/v1/teams',
    {
      config: { access: 'teams.manage' },
      schema: { body: CreateTeamBody, response: { 201: TeamSchema, ...authErrors, 409: ErrorResponse } },
    },
    async (request, reply) => reply.status(201).send(await teams.createTeam(actorOf(request), request.body)),
  );

  app.patch(
    '/api/v1/teams/:id',
    {
      config: { access: 'teams.manage' },
      schema: {
        params: IdParams,
        body: UpdateTeamBody,
        response: { 200: TeamSchema, ...withNotFound, 409: ErrorResponse },
      },
    },
    async (request) => teams.updateTeam(actorOf(request), request.params.id, request.body),
  );

  app.delete(
    '/api/v1/teams/:id',
    {
      config: { access: 'teams.manage' },
      schema: { params: IdParams, response: { 204: Type.Null(), ...withNotFound, 409: ErrorResponse } },
    },
    async (request, reply) => {
      await teams.deleteTeam(actorOf(request), request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.put(
    '/api/v1/teams/:id/members/:userId',
    {
      config: { access: 'teams.manage' },
      schema: { params: MemberParams, response: { 200: TeamSchema, ...withNotFound } },
    },
    async (request) => teams.addMember(actorOf(request), request.params.id, request.params.userId),
  );

  app.delete(
    '/api/v1/teams/:id/members/:userId',
    {
      config: { access: 'teams.manage' },
      schema: { params: MemberParams, response: { 200: TeamSchema, ...withNotFound } },
    },
    async (request) => teams.removeMember(actorOf(request), request.params.id, request.params.userId),
  );
};
