import { Type } from '@fastify/type-provider-typebox';
import { AgentAvailabilitySchema } from '../../realtime/events.ts';

export const AvailabilityView = Type.Object({
  userId: Type.String(),
  status: AgentAvailabilitySchema,
  connected: Type.Boolean(),
  updatedAt: Type.Union([Type.String(), Type.Null()]),
});

export const AvailabilityList = Type.Object({ agents: Type.Array(AvailabilityView) });

export const SetAvailabilityBody = Type.Object(
  { status: AgentAvailabilitySchema },
  { additionalProperties: false },
);
