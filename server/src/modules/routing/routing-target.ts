// The seam between the two halves of routing: the rules (routing-rules.*: which team, what
// priority, which preferred agent a conversation gets) and the engine (the queue and assignment:
// which agent of that team takes it, and when). The engine asks `decide` once per conversation
// that needs a target (its first visitor message; a reopen); rules answer from what is known then.

export type RoutingPriority = 'urgent' | 'vip' | 'high' | 'normal' | 'low';

/** What the rules may look at. Everything is read by the caller through the owning modules' services. */
export interface RoutingInput {
  conversationId: string;
  /** The website (widget channel) or, later, any channel the conversation came through. */
  channelId: string;
  /** The page the widget was embedded in when the conversation started, if known. */
  sourcePageUrl: string | null;
  /** The visitor's language as the widget reported it (BCP 47, e.g. "zh-CN"), if known. */
  language: string | null;
  contact: { id: string; tags: string[]; attributes: Record<string, unknown> };
  /** The text of the visitor's first message (for keyword conditions); '' when none yet. */
  firstMessage: string;
}

export interface RouteTarget {
  /** null: no rule matched and the website has no default team (the conversation stays unassigned). */
  teamId: string | null;
  priority: RoutingPriority;
  preferredAgentId: string | null;
  /** The rule that matched, or null for the website's default. */
  ruleId: string | null;
}

export type DecideTarget = (input: RoutingInput) => Promise<RouteTarget>;

/**
 * The VIP lane without any rule: a contact tagged "vip" (any letter case) or with the attribute
 * vip = true (or "true") waits ahead of everyone but urgent conversations.
 */
export function isVipContact(contact: RoutingInput['contact']): boolean {
  const vip = contact.attributes['vip'];
  return contact.tags.some((t) => t.toLowerCase() === 'vip') || vip === true || vip === 'true';
}
