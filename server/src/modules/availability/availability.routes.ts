import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { actorOf } from '../../platform/http/auth.plugin.ts';
import { authErrors } from '../../platform/http/schemas.ts';
import { AvailabilityList, AvailabilityView, SetAvailabilityBody } from './availability.schemas.ts';
import type { AvailabilityService } from './availability.service.ts';

export const availabilityRoutes: FastifyPluginAsyncTypebox<{ availability: AvailabilityService }> = async (
  app,
  { availability },
) => {
  app.get(
    '/api/v1/availability',
    {
      config: { access: 'availability.read' },
      schema: { response: { 200: AvailabilityList, ...authErrors } },
    },
    async (request) => ({ agents: await availability.list(actorOf(request)) }),
  );

  app.put(
    '/api/v1/availability/me',
    {
      config: { access: 'availability.set' },
      schema: { body: SetAvailabilityBody, response: { 200: AvailabilityView, ...authErrors } },
    },
    async (request) => availability.setOwn(actorOf(request), request.body.status),
  );
};
