// The routing engine: which agent takes a conversation that needs one, and when
// (docs/ROUTING.md). It keeps its own durable queue (routing_queue, migrations/0024) and assigns
// through the conversations service's routing hook, so every assignment is the usual system
// message + audit record, in the engine's transaction.
//
// CORRECTNESS UNDER REPLICAS (several processes on one database). Each assignment is one short
// transaction that takes, in this order and never the other way round:
//   1. the queue row, FOR UPDATE SKIP LOCKED: two replicas never work on the same conversation;
//      each takes the next head the other is not holding (no waiting, no deadlock);
//   2. the chosen agent's routing_agents row, FOR UPDATE SKIP LOCKED: while one transaction
//      counts an agent's load and assigns to them, no other engine transaction can; a locked
//      agent is skipped for the next candidate;
//   3. the agent's load is counted AFTER that lock (READ COMMITTED: a new statement sees every
//      commit that happened before it, including the previous holder's), and compared with the
//      capacity: an automatic assignment never takes an agent over capacity;
//   4. the conversation's row lock (conversations.routeInTransaction): it must still be open and
//      unassigned (a manual claim that won the race makes the engine drop its row): never
//      assigned twice.
// Unassignments (timeout, offline, removed from a team) take 1 then 4 only. Manual claims and
// transfers do not go through the engine and are not capacity-bound (a person decided).
//
// DURABILITY. The queue is a table: a crash loses no waiting conversation. Events (a visitor's
// first message, a resolve, an agent coming online) only make things happen sooner; a periodic
// tick on every replica places what waits, times out unanswered assignments, applies overflow and
// the offline grace, and every `sweepSeconds` enqueues open unassigned conversations that have a
// visitor message but no queue row (a crash between the message's commit and the enqueue).
import type { Logger } from 'pino';
import type { Database } from '../../platform/db/database.ts';
import type { CommittedBatch, EphemeralEvent, EventBus } from '../../platform/events.ts';
import type { AgentAvailability } from '../../realtime/events.ts';
import type { AvailabilityService } from '../availability/availability.service.ts';
import type { ContactsService } from '../contacts/contacts.service.ts';
import type { ConversationsService } from '../conversations/conversations.service.ts';
import type { TeamsService } from '../teams/teams.service.ts';
import type { QueueRow, RoutingQueueRepository, TeamRoutingSettings } from './routing-queue.repository.ts';
import type { DecideTarget, RoutingPriority } from './routing-target.ts';

class GoneError extends Error {}

/** Assignment transactions one replica runs at once for one team. */
const FILL_WORKERS = 3;

export interface RoutingEngineSettings {
  /** Every this many ms each replica runs the tick (placing, timeouts, overflow, grace). */
  tickMs: number;
  /** An agent without a socket this long counts as offline (their unanswered chats go back). */
  offlineGraceSeconds: number;
  /** Every this many seconds the tick also looks for unassigned conversations missing a row. */
  sweepSeconds: number;
}

export interface AgentState {
  userId: string;
  displayName: string;
  status: AgentAvailability;
  connected: boolean;
  load: number;
  capacity: number;
  /** May take a new conversation now: online, connected, under capacity. */
  available: boolean;
}

type Conversations = Pick<
  ConversationsService,
  | 'routingFacts'
  | 'loadOf'
  | 'unassignedWithVisitorMessage'
  | 'heldBy'
  | 'agentAnsweredSince'
  | 'routeInTransaction'
>;

export function createRoutingEngine(deps: {
  db: Database;
  repo: RoutingQueueRepository;
  conversations: Conversations;
  contacts: Pick<ContactsService, 'exists'>;
  teams: Pick<TeamsService, 'membersForRouting'>;
  availability: Pick<AvailabilityService, 'statusesOf'>;
  decide: DecideTarget;
  /** The visitor's language as the widget reported it (kept by the routing rules), if known. */
  languageOf?: (conversationId: string) => Promise<string | null>;
  logger: Logger;
  settings: RoutingEngineSettings;
}) {
  const { db, repo, conversations, logger } = deps;
  /** Teams whose queue a fill is running for here (another request just marks it dirty). */
  const filling = new Map<string, { dirty: boolean; done: Promise<void> }>();
  /** When this replica first saw each agent with assignments disconnected. */
  const disconnectedSince = new Map<string, number>();
  let lastSweep = 0;
  let timer: NodeJS.Timeout | null = null;
  let ticking: Promise<void> | null = null;
  /** Work started by events, so `idle()` (tests, shutdown) can wait for it. */
  const inFlight = new Set<Promise<unknown>>();

  function background(what: string, work: () => Promise<unknown>): void {
    const p = work()
      .catch((err: unknown) => logger.error({ err }, `routing: ${what} failed`))
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  }

  function effectiveCapacity(
    settings: TeamRoutingSettings,
    caps: { own: Map<string, number>; member: Map<string, number> },
    userId: string,
  ): number {
    return caps.member.get(userId) ?? caps.own.get(userId) ?? settings.defaultCapacity;
  }

  /** The team's members with status, presence, load and capacity. */
  async function agentsOf(teamId: string, settings?: TeamRoutingSettings): Promise<AgentState[]> {
    const s = settings ?? (await repo.teamSettings(db, teamId));
    const members = (await deps.teams.membersForRouting([teamId])).filter((m) => m.role !== 'auditor');
    const ids = members.map((m) => m.userId);
    const [statuses, caps, loads] = await Promise.all([
      deps.availability.statusesOf(ids),
      repo.capacities(db, teamId, ids),
      conversations.loadOf(db, ids),
    ]);
    return members.flatMap((m) => {
      const st = statuses.get(m.userId);
      if (!st) return []; // disabled account
      const load = loads.get(m.userId) ?? 0;
      const capacity = effectiveCapacity(s, caps, m.userId);
      return [
        {
          userId: m.userId,
          displayName: m.displayName,
          status: st.status,
          connected: st.connected,
          load,
          capacity,
          available: st.status === 'online' && st.connected && load < capacity,
        },
      ];
    });
  }

  /** Candidates for one conversation, best first. */
  async function rankCandidates(
    row: QueueRow,
    free: AgentState[],
    last: Map<string, number>,
    settings: TeamRoutingSettings,
    now: Date,
  ): Promise<AgentState[]> {
    let pool = free;
    if (row.excluded_agent_id && pool.some((a) => a.userId !== row.excluded_agent_id)) {
      pool = pool.filter((a) => a.userId !== row.excluded_agent_id);
    }
    const lastOf = (id: string) => last.get(id) ?? -Infinity;
    const ordered = [...pool].sort((a, b) =>
      settings.strategy === 'round_robin'
        ? lastOf(a.userId) - lastOf(b.userId) || a.userId.localeCompare(b.userId)
        : a.load / a.capacity - b.load / b.capacity ||
          lastOf(a.userId) - lastOf(b.userId) ||
          a.userId.localeCompare(b.userId),
    );
    const first: string[] = [];
    if (row.preferred_agent_id) first.push(row.preferred_agent_id);
    if (settings.stickyWindowMinutes > 0) {
      const sticky = await repo.lastAgent(db, row.contact_id);
      if (sticky && now.getTime() - sticky.at.getTime() <= settings.stickyWindowMinutes * 60_000) {
        first.push(sticky.agent_id);
      }
    }
    const front = first.flatMap((id) => ordered.filter((a) => a.userId === id));
    return [...new Set([...front, ...ordered])];
  }

  type Attempt =
    | { kind: 'empty' }
    | { kind: 'assigned'; announce: () => Promise<void>; agentId: string }
    | { kind: 'gone' }
    | { kind: 'no_agent'; conversationId: string; locked: boolean };

  /**
   * One transaction: the head of the queue to the best free agent (see the header). The
   * conversation's part (system message, then the audit record, whose chain lock every audited
   * write in Parley shares) comes last, so that lock is held for as short a time as possible.
   */
  async function assignHead(
    teamId: string,
    settings: TeamRoutingSettings,
    free: AgentState[],
    last: Map<string, number>,
    skip: string[],
    now: Date,
  ): Promise<Attempt> {
    let gone: string | null = null;
    try {
      return await db.transaction().execute(async (trx): Promise<Attempt> => {
        const head = await repo.lockHead(trx, teamId, skip);
        if (!head) return { kind: 'empty' };
        let locked = false;
        for (const agent of await rankCandidates(head, free, last, settings, now)) {
          if (!(await repo.lockAgent(trx, agent.userId))) {
            locked = true;
            continue;
          }
          const load = (await conversations.loadOf(trx, [agent.userId])).get(agent.userId) ?? 0;
          if (load >= agent.capacity) continue;
          const due = new Date(now.getTime() + settings.firstResponseSeconds * 1000);
          await repo.markAssigned(trx, head.conversation_id, agent.userId, now, due);
          await repo.touchAgent(trx, agent.userId, now);
          await repo.setLastAgent(trx, head.contact_id, agent.userId, now);
          const announce = await conversations.routeInTransaction(trx, head.conversation_id, {
            assigneeId: agent.userId,
            assigneeName: agent.displayName,
            teamId,
            expectAssigneeId: null,
            reason: head.reason,
          });
          if (!announce) {
            // Claimed by hand, resolved…: roll all of this back, then drop the row.
            gone = head.conversation_id;
            throw new GoneError();
          }
          return { kind: 'assigned', announce, agentId: agent.userId };
        }
        return { kind: 'no_agent', conversationId: head.conversation_id, locked };
      });
    } catch (err) {
      if (!(err instanceof GoneError) || gone === null) throw err;
      await repo.removeWaiting(db, gone);
      return { kind: 'gone' };
    }
  }

  /**
   * Places waiting conversations of a team while it has free agents. The agents' state is read
   * once and kept up to date locally between assignments (re-read every 25 rounds and whenever
   * it looks exhausted or wrong): the transaction's recount under the agent's lock is what
   * guarantees capacity, this only saves queries.
   */
  async function fillTeamNow(teamId: string, fixedNow?: Date): Promise<number> {
    const settings = await repo.teamSettings(db, teamId);
    const skip: string[] = [];
    let assigned = 0;
    let agents: AgentState[] = [];
    let last = new Map<string, number>();
    let fresh = false;
    let refreshing: Promise<void> | null = null;
    const refresh = () =>
      (refreshing ??= (async () => {
        agents = await agentsOf(teamId, settings);
        const ids = agents.map((a) => a.userId);
        await repo.ensureAgents(db, ids);
        last = await repo.lastAssigned(db, ids);
        fresh = true;
      })().finally(() => (refreshing = null)));
    await refresh();
    let rounds = 0;
    let stop = false;
    let inHand = 0;
    // A few assignments in flight at once (each its own transaction, as on another replica):
    // the round trips of one overlap the others'.
    const worker = async () => {
      while (!stop && rounds++ < 500) {
        if (rounds % 25 === 0 && !fresh) await refresh();
        let free = agents.filter((a) => a.available);
        if (free.length === 0) {
          if (!fresh) await refresh();
          free = agents.filter((a) => a.available);
          if (free.length === 0) {
            stop = true;
            return;
          }
        }
        // Never more heads in hand than free slots: with one slot left, two workers holding the
        // first and second head could give it to the second (priority order first).
        const slots = free.reduce((n, a) => n + a.capacity - a.load, 0);
        if (inHand >= slots) return;
        fresh = false;
        inHand++;
        const r = await assignHead(teamId, settings, free, last, skip, fixedNow ?? new Date()).finally(
          () => inHand--,
        );
        // Empty for this worker (the rest, if any, is in the other workers' hands).
        if (r.kind === 'empty') return;
        if (r.kind === 'assigned') {
          assigned++;
          const a = agents.find((x) => x.userId === r.agentId);
          if (a) {
            a.load++;
            a.available = a.load < a.capacity;
          }
          last.set(r.agentId, Date.now() / 1000 + assigned / 1e6);
          await r.announce();
        } else if (r.kind === 'no_agent') {
          // Every candidate was full: this one waits for a later pass. Candidates locked by a
          // sibling or another replica: try again with fresh state (keeps the queue's order).
          if (!r.locked) skip.push(r.conversationId);
          if (skip.length > 50) {
            stop = true;
            return;
          }
          await refresh();
        }
      }
    };
    await Promise.all(Array.from({ length: FILL_WORKERS }, worker));
    return assigned;
  }

  /** Coalesced per team: a request while a fill runs makes it run once more. */
  function fillTeam(teamId: string, now?: Date): Promise<void> {
    const running = filling.get(teamId);
    if (running) {
      running.dirty = true;
      return running.done;
    }
    const state = { dirty: false, done: Promise.resolve() };
    state.done = (async () => {
      try {
        do {
          state.dirty = false;
          await fillTeamNow(teamId, now);
        } while (state.dirty);
      } finally {
        filling.delete(teamId);
      }
    })();
    filling.set(teamId, state);
    return state.done;
  }

  async function fillTeamsOfAgent(agentId: string): Promise<void> {
    const teamIds = await teamsOfAgent(agentId);
    await Promise.all(teamIds.map((t) => fillTeam(t)));
  }

  async function teamsOfAgent(agentId: string): Promise<string[]> {
    const waiting = (await repo.teamsWithWaiting(db)).map((r) => r.team_id);
    if (waiting.length === 0) return [];
    const members = await deps.teams.membersForRouting(waiting);
    return [...new Set(members.filter((m) => m.userId === agentId).map((m) => m.teamId))];
  }

  /** Overflow at arrival: the team's queue is too long or has waited too long. */
  async function overflowTarget(teamId: string, now: Date): Promise<string | null> {
    const s = await repo.teamSettings(db, teamId);
    if (!s.overflowTeamId || (s.overflowMaxWaiting === null && s.overflowWaitSeconds === null)) return null;
    const { count, oldest } = await repo.waitingStats(db, teamId);
    const tooMany = s.overflowMaxWaiting !== null && count >= s.overflowMaxWaiting;
    const tooLong =
      s.overflowWaitSeconds !== null &&
      oldest !== null &&
      now.getTime() - oldest.getTime() >= s.overflowWaitSeconds * 1000;
    return tooMany || tooLong ? s.overflowTeamId : null;
  }

  /**
   * A conversation needs an agent: decide its target (the rules) and queue it, unless it is
   * queued already, assigned, or not open. Returns the team it waits in.
   */
  async function enqueue(
    conversationId: string,
    reason: string,
    opts: {
      teamId?: string;
      firstMessage?: string;
      now?: Date;
      /** When the need arose (the message's time): the queue's order is arrival, not our pace. */
      since?: Date;
    } = {},
  ): Promise<string | null> {
    const now = opts.now ?? new Date();
    if (await repo.findQueued(db, conversationId)) return null;
    const [facts] = await conversations.routingFacts([conversationId]);
    if (!facts || facts.status !== 'open' || facts.assignee_id) return null;
    const contact = await deps.contacts.exists(db, facts.contact_id);
    if (!contact) return null;
    let teamId: string | null;
    let priority: RoutingPriority;
    let preferred: string | null = null;
    const target = await deps.decide({
      conversationId,
      channelId: facts.channel_id,
      sourcePageUrl: facts.source_url,
      language: (await deps.languageOf?.(conversationId)) ?? null,
      contact: {
        id: contact.id,
        tags: contact.tags,
        attributes: contact.attributes,
      },
      firstMessage: opts.firstMessage ?? facts.first_visitor_text ?? '',
    });
    // A new conversation starts in its website's default team only as a placeholder: the rules
    // choose its team (the default team when none matches). A transfer to a team, or a
    // conversation routed before (reopened, taken back), keeps its team.
    const firstRouting = reason === 'new' || reason === 'sweep';
    const keptTeam = opts.teamId ?? (firstRouting && target.teamId ? null : facts.team_id);
    if (keptTeam) {
      // The rules give the priority (and a preferred agent only for their own team).
      teamId = keptTeam;
      priority = target.priority;
      if (target.teamId === teamId) preferred = target.preferredAgentId;
    } else {
      teamId = target.teamId;
      priority = target.priority;
      preferred = target.preferredAgentId;
    }
    if (!teamId) return null;
    const overflow = await overflowTarget(teamId, now);
    const inserted = await repo.enqueue(db, {
      conversationId,
      teamId: overflow ?? teamId,
      contactId: facts.contact_id,
      priority,
      reason: overflow ? 'overflow' : reason,
      preferredAgentId: preferred,
      ...(opts.since ? { waitingSince: opts.since } : {}),
    });
    return inserted ? (overflow ?? teamId) : null;
  }

  /**
   * Takes a conversation back from its agent (timeout, offline, removed from the team) and puts
   * it at its old place in the queue (waiting_since is kept). One transaction: queue row, then
   * the conversation (system message + audit).
   */
  async function requeue(
    conversationId: string,
    fromAgentId: string,
    teamId: string,
    reason: string,
    exclude: boolean,
  ): Promise<boolean> {
    if (!(await repo.findQueued(db, conversationId))) {
      // Held without a queue row (claimed by hand): give it one first, then take it back.
      const [facts] = await conversations.routingFacts([conversationId]);
      if (!facts) return false;
      await repo.enqueue(db, {
        conversationId,
        teamId,
        contactId: facts.contact_id,
        priority: 'normal',
        reason,
        preferredAgentId: null,
      });
      const at = new Date();
      await repo.markAssigned(db, conversationId, fromAgentId, at, at);
    }
    const announce = await db.transaction().execute(async (trx) => {
      const row = await repo.lockRow(trx, conversationId);
      if (!row) return null;
      const a = await conversations.routeInTransaction(trx, conversationId, {
        assigneeId: null,
        teamId,
        expectAssigneeId: fromAgentId,
        reason,
      });
      if (!a) {
        if (row.state === 'assigned') await repo.remove(trx, conversationId);
        return null;
      }
      await repo.markWaiting(trx, conversationId, {
        reason,
        excludedAgentId: exclude ? fromAgentId : null,
        teamId,
      });
      return a;
    });
    if (!announce) return false;
    await announce();
    // Its team's free agents take it at once (the agent it came from may belong to no team now).
    await fillTeam(teamId);
    return true;
  }

  /** The agent's unanswered engine assignments go back to the queue. */
  async function releaseAgent(agentId: string, reason: string): Promise<number> {
    let n = 0;
    for (const row of await repo.awaitingFirstResponse(db, agentId)) {
      if (await conversations.agentAnsweredSince(row.conversation_id, agentId, row.assigned_at!)) {
        await repo.removeAnswered(db, row.conversation_id, agentId);
        continue;
      }
      if (await requeue(row.conversation_id, agentId, row.team_id, reason, false)) n++;
    }
    await fillTeamsWithWaiting();
    return n;
  }

  /** Conversations an agent holds in teams they no longer belong to go back to the queue. */
  async function checkMembership(agentId: string): Promise<void> {
    const held = (await conversations.heldBy(agentId)).filter((c) => c.team_id !== null);
    if (held.length === 0) return;
    const teamIds = [...new Set(held.map((c) => c.team_id!))];
    const members = await deps.teams.membersForRouting(teamIds);
    for (const c of held) {
      if (members.some((m) => m.teamId === c.team_id && m.userId === agentId)) continue;
      await requeue(c.id, agentId, c.team_id!, 'removed_from_team', true);
    }
  }

  async function fillTeamsWithWaiting(now?: Date): Promise<void> {
    const teams = (await repo.teamsWithWaiting(db)).map((r) => r.team_id);
    await Promise.all(teams.map((t) => fillTeam(t, now)));
  }

  /** First-response timeouts: unanswered past the due time → back to the queue, not to them. */
  async function timeouts(now: Date): Promise<number> {
    let n = 0;
    for (const row of await repo.dueAssigned(db, now, 200)) {
      const agent = row.assignee_id!;
      if (await conversations.agentAnsweredSince(row.conversation_id, agent, row.assigned_at!)) {
        await repo.removeAnswered(db, row.conversation_id, agent);
        continue;
      }
      if (await requeue(row.conversation_id, agent, row.team_id, 'first_response_timeout', true)) n++;
    }
    return n;
  }

  /**
   * Agents with unanswered assignments who chose offline (at once) or have no socket for the
   * grace period (presence). Busy or away with a socket keep theirs.
   */
  async function offlineAgents(now: Date): Promise<void> {
    const agents = (await repo.assignedAgents(db)).map((r) => r.assignee_id!);
    const statuses = await deps.availability.statusesOf(agents);
    for (const id of agents) {
      const st = statuses.get(id);
      if (st && st.status !== 'offline' && st.connected) {
        disconnectedSince.delete(id);
        continue;
      }
      if (st && st.status !== 'offline') {
        // Chosen online but no socket: offline only after the grace period.
        const since = disconnectedSince.get(id) ?? now.getTime();
        disconnectedSince.set(id, since);
        if (now.getTime() - since < deps.settings.offlineGraceSeconds * 1000) continue;
      }
      disconnectedSince.delete(id);
      await releaseAgent(id, 'agent_offline');
    }
  }

  async function overflow(now: Date): Promise<void> {
    for (const r of await repo.overflowDue(db, now)) {
      await repo.moveWaiting(db, r.conversation_id, r.team_id, r.overflow_team_id!, 'overflow');
    }
  }

  async function sweep(): Promise<number> {
    let n = 0;
    for (const { id } of await conversations.unassignedWithVisitorMessage(500)) {
      if (await enqueue(id, 'sweep')) n++;
    }
    return n;
  }

  /** Everything periodic, once. `now` lets tests move time forward instead of sleeping. */
  async function tickOnce(now: Date): Promise<void> {
    if (now.getTime() - lastSweep >= deps.settings.sweepSeconds * 1000) {
      lastSweep = now.getTime();
      await sweep();
    }
    await timeouts(now);
    await offlineAgents(now);
    await overflow(now);
    await fillTeamsWithWaiting(now);
  }

  // ---------------- reactions to this replica's commits and events ----------------

  function onCommitted(batch: CommittedBatch): void {
    const { routing } = batch;
    const id = routing.conversationId;
    for (const m of batch.messages) {
      if (m.senderType === 'visitor' && routing.assigneeId === null) {
        background('enqueue', async () => {
          const team = await enqueue(id, 'new', { firstMessage: m.text, since: new Date(m.createdAt) });
          if (team) await fillTeam(team);
        });
      } else if (m.senderType === 'agent' && !m.private && m.senderId && routing.assigneeId === m.senderId) {
        background('first response', () => repo.removeAnswered(db, id, m.senderId!));
      } else if (m.kind === 'system' && m.event) {
        const e = m.event;
        if (e.type === 'status_changed') {
          if (e.status === 'open' && routing.assigneeId === null) {
            background('enqueue reopened', async () => {
              const team = await enqueue(id, 'reopened', { since: new Date(m.createdAt) });
              if (team) await fillTeam(team);
            });
          } else if (e.status !== 'open') {
            // Resolve, snooze, pending: the row goes; the agent's slot may be free.
            background('status change', async () => {
              await repo.remove(db, id);
              if (routing.assigneeId) await fillTeamsOfAgent(routing.assigneeId);
            });
          }
        } else if (e.type === 'assigned' || e.type === 'transferred') {
          const from = (e.fromAssigneeId as string | null) ?? null;
          const to = (e.assigneeId as string | null) ?? null;
          const byRouting = e.by === 'routing';
          background('assignment change', async () => {
            if (!byRouting) {
              if (to) await repo.remove(db, id);
              else if (routing.teamId) {
                const team = await enqueue(id, 'transferred', {
                  teamId: routing.teamId,
                  since: new Date(m.createdAt),
                });
                if (team) await fillTeam(team);
              }
            }
            if (from && from !== to) await fillTeamsOfAgent(from);
          });
        }
      }
    }
  }

  function onEphemeral(event: EphemeralEvent): void {
    if (event.kind === 'availability') {
      const { userId, status } = event;
      // Online: their free slots take waiting work. Offline: their unanswered ones go back.
      // Busy and away keep what they have and get nothing new.
      if (status === 'online') background('availability', () => fillTeamsOfAgent(userId));
      if (status === 'offline') background('availability', () => releaseAgent(userId, 'agent_offline'));
    } else if (event.kind === 'presence_sync') {
      for (const e of event.entries) {
        if (e.subject.startsWith('agent:') && e.status === 'online') {
          background('agent online', () => fillTeamsOfAgent(e.subject.slice('agent:'.length)));
        }
      }
    } else if (event.kind === 'access') {
      for (const userId of event.userIds) {
        background('access', async () => {
          await checkMembership(userId);
          await fillTeamsOfAgent(userId);
        });
      }
    }
  }

  return {
    /** Reacts to this replica's commits and events (the container calls it once). */
    listen(bus: Pick<EventBus, 'onCommitted' | 'onEphemeral'>) {
      bus.onCommitted(onCommitted);
      bus.onEphemeral(onEphemeral);
    },
    /** The periodic tick (`serve` starts it once the database is ready). */
    startTicking() {
      if (!timer) {
        timer = setInterval(() => {
          if (ticking) return;
          ticking = tickOnce(new Date())
            .catch((err: unknown) => logger.error({ err }, 'routing: tick failed'))
            .finally(() => (ticking = null));
        }, deps.settings.tickMs);
        timer.unref();
      }
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = null;
      await ticking;
      await this.idle();
    },
    /** Resolves when the work events started here is done (tests; shutdown). */
    async idle() {
      while (inFlight.size > 0 || filling.size > 0) {
        await Promise.allSettled([...inFlight, ...[...filling.values()].map((f) => f.done)]);
      }
    },
    /** One run of the periodic work at time `now` (tests move time forward with it). */
    tick: (now: Date = new Date()) => tickOnce(now),
    enqueue,
    fillTeam,
    agentsOf,
    sweep,
    releaseAgent,
  };
}

export type RoutingEngine = ReturnType<typeof createRoutingEngine>;
