// HTTP shapes of the routing engine: team settings, capacities, the queue (docs/ROUTING.md).
import { Type } from '@fastify/type-provider-typebox';
import { Uuid } from '../../platform/http/schemas.ts';
import { AgentAvailabilitySchema } from '../../realtime/events.ts';

export const RoutingPrioritySchema = Type.Union([
  Type.Literal('urgent'),
  Type.Literal('vip'),
  Type.Literal('high'),
  Type.Literal('normal'),
  Type.Literal('low'),
]);

const Capacity = Type.Integer({ minimum: 1, maximum: 1000 });

export const TeamParams = Type.Object({ teamId: Uuid }, { additionalProperties: false });
export const TeamMemberParams = Type.Object({ teamId: Uuid, userId: Uuid }, { additionalProperties: false });
export const AgentParams = Type.Object({ userId: Uuid }, { additionalProperties: false });

export const TeamRoutingSettingsView = Type.Object({
  teamId: Uuid,
  strategy: Type.Union([Type.Literal('least_loaded'), Type.Literal('round_robin')]),
  defaultCapacity: Type.Integer(),
  firstResponseSeconds: Type.Integer(),
  stickyWindowMinutes: Type.Integer(),
  overflowTeamId: Type.Union([Uuid, Type.Null()]),
  overflowWaitSeconds: Type.Union([Type.Integer(), Type.Null()]),
  overflowMaxWaiting: Type.Union([Type.Integer(), Type.Null()]),
});

export const UpdateTeamRoutingBody = Type.Object(
  {
    strategy: Type.Optional(Type.Union([Type.Literal('least_loaded'), Type.Literal('round_robin')])),
    defaultCapacity: Type.Optional(Capacity),
    firstResponseSeconds: Type.Optional(Type.Integer({ minimum: 10, maximum: 86400 })),
    stickyWindowMinutes: Type.Optional(Type.Integer({ minimum: 0, maximum: 525600 })),
    overflowTeamId: Type.Optional(Type.Union([Uuid, Type.Null()])),
    overflowWaitSeconds: Type.Optional(
      Type.Union([Type.Integer({ minimum: 1, maximum: 86400 }), Type.Null()]),
    ),
    overflowMaxWaiting: Type.Optional(
      Type.Union([Type.Integer({ minimum: 1, maximum: 100000 }), Type.Null()]),
    ),
  },
  { additionalProperties: false, minProperties: 1 },
);

/**
 * Capacity "default": back to the next default (the agent's own, then the team's). Not null:
 * request coercion would turn a 0 into null, and 0 must be refused.
 */
export const UpdateAgentRoutingBody = Type.Object(
  {
    capacity: Type.Optional(Type.Union([Capacity, Type.Literal('default')])),
    status: Type.Optional(AgentAvailabilitySchema),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const RoutingAgentView = Type.Object({
  userId: Uuid,
  displayName: Type.String(),
  status: AgentAvailabilitySchema,
  connected: Type.Boolean(),
  load: Type.Integer(),
  capacity: Type.Integer(),
  available: Type.Boolean(),
});

export const QueueEntryView = Type.Object({
  conversationId: Uuid,
  priority: RoutingPrioritySchema,
  reason: Type.String(),
  waitingSince: Type.String(),
  waitSeconds: Type.Integer(),
  /** 1 = next to be assigned. */
  position: Type.Integer(),
  /** Estimated seconds until an agent takes it (docs/ROUTING.md, "Queue position"). */
  estimatedWaitSeconds: Type.Union([Type.Integer(), Type.Null()]),
});

export const AwaitingEntryView = Type.Object({
  conversationId: Uuid,
  priority: RoutingPrioritySchema,
  assigneeId: Uuid,
  assignedAt: Type.String(),
  firstResponseDue: Type.String(),
});

export const TeamQueueView = Type.Object({
  teamId: Uuid,
  summary: Type.Object({
    waiting: Type.Integer(),
    longestWaitSeconds: Type.Integer(),
    agentsOnline: Type.Integer(),
    freeSlots: Type.Integer(),
  }),
  waiting: Type.Array(QueueEntryView),
  /** Assigned by the engine, first response not given yet. */
  awaitingFirstResponse: Type.Array(AwaitingEntryView),
  agents: Type.Array(RoutingAgentView),
});
