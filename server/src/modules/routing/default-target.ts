// The default DecideTarget until routing rules (routing-rules.*) are wired in: the channel's
// default team; priority 'vip' for a contact tagged "vip" (any letter case) or with the
// attribute vip = true (or "true"), else 'normal'; no preferred agent.
import type { DecideTarget, RoutingInput, RouteTarget } from './routing-target.ts';

export function isVipContact(contact: RoutingInput['contact']): boolean {
  const vip = contact.attributes['vip'];
  return contact.tags.some((t) => t.toLowerCase() === 'vip') || vip === true || vip === 'true';
}

export function createDefaultTarget(deps: {
  /** The channel's default team (null: none configured). */
  defaultTeamOf: (channelId: string) => Promise<string | null>;
}): DecideTarget {
  return async (input: RoutingInput): Promise<RouteTarget> => ({
    teamId: await deps.defaultTeamOf(input.channelId),
    priority: isVipContact(input.contact) ? 'vip' : 'normal',
    preferredAgentId: null,
    ruleId: null,
  });
}
