// The WebSocket hub: connections, rooms, and in-order delivery per conversation.
//
// Rooms: `contact:<id>` (a visitor's sockets), `user:<id>` (an agent's sockets), `team:<id>`,
// `unrouted` (agents and supervisors: conversations without a team) and `admins`.
//
// THE DELIVERY INVARIANT. For every socket S and conversation C that S may see, S receives the
// seqs of C it may see exactly once and in ascending order, with no gap, from where S stands on
// C: the seq it resumed from (its replay covers up to the replay's end), or — for a socket that
// never received anything of C — every seq committed after S attached. It holds whatever order
// local commits, remote notifications (NOTIFY) and catch-up reads arrive in, because:
//
//  1. Per conversation, everything goes through one queue (`enqueue`) and one mark,
//     `delivered`: every seq ≤ delivered has been handed to every socket here that may see it.
//     A batch is delivered only if it starts at delivered + 1; when it starts higher, the
//     missing range (delivered, batch end] is read from the database first (`fill`). So the
//     mark moves only through contiguous runs, and the database fills every gap.
//  2. Each socket keeps the last seq it was given per conversation (`conn.sent`) and drops
//     anything at or below it, so an overlap (a replay meeting live traffic) is never a double.
//  3. The mark is not known when the hub first hears of a conversation (after a start, or after
//     forgetting an idle conversation): it is then derived from the sockets themselves
//     (`establish`): the lowest `sent` among the readers, and for readers that have nothing of
//     the conversation yet, every message created since they attached (minus a margin for
//     transactions that commit late). Nothing counts as delivered because a later seq arrived
//     first. Forgetting idle conversations (`forgetAfterMs`) is therefore always safe.
//  4. A resume (ws.routes.ts) holds live events while it replays from the database and then
//     sets `sent` to where the replay ends, so the live stream continues exactly after it.
//
// The hub never runs SQL itself: `loadCommitted` (the conversations service) does.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { CommittedBatch, ConversationRouting, EphemeralEvent } from '../platform/events.ts';
import type { Actor, Role } from '../modules/identity/permissions.ts';
import { canSee } from '../modules/conversations/visibility.ts';
import { toVisitorMessage } from '../modules/conversations/views.ts';
import type { ServerEvent } from './events.ts';
import { createPresence, type PresenceChange } from './presence.ts';

export const TYPING_EXPIRES_MS = 6000;
/** Conversation sequencer state is forgotten after this long without traffic (default). */
const FORGET_AFTER_MS = 10 * 60 * 1000;
/**
 * A message's created_at is its transaction's start: it may commit this long after. A socket
 * that attached at T is given what was created since T minus this (a few extra old messages
 * at worst, never one missing).
 */
const LATE_COMMIT_MARGIN_MS = 30_000;

export interface HubConnection {
  readonly id: string;
  readonly role: 'visitor' | 'agent';
  readonly contactId: string | null;
  /** Replaced (never mutated) when the agent's teams change while the socket is open. */
  actor: Actor | null;
  /** Highest seq sent to this socket, per conversation (it has everything it may see up to it). */
  readonly sent: Map<string, number>;
  /** When the socket joined its rooms (Date.now()). */
  attachedAt: number;
  /** Live frames held back while a conversation is being replayed to this socket. */
  readonly replaying: Map<string, ServerEvent[]>;
  /** Agents: what this socket says (online unless the client said away). */
  status: 'online' | 'away';
  /** Visitors: the conversations this socket follows (presence), with their routing. */
  readonly presentIn: Map<string, { teamId: string | null; assigneeId: string | null }>;
  send(event: ServerEvent): void;
  /** Ends the socket (the agent's access changed in a way that needs a new session). */
  close(code: number, reason: string): void;
}

export interface HubDeps {
  /** Messages (afterSeq, uptoSeq] of a conversation; with createdSince only those that recent. */
  loadCommitted(
    conversationId: string,
    afterSeq: number,
    uptoSeq?: number,
    createdSince?: Date,
  ): Promise<CommittedBatch | null>;
  logger: Logger;
  /** A user's current role and teams; null when the account is gone or disabled. */
  accessOf(userId: string): Promise<{ role: Role; teamIds: string[] } | null>;
  /** Team and assignee of conversations (readers whose access changed keep only what they see). */
  routingsOf(ids: string[]): Promise<{ id: string; team_id: string | null; assignee_id: string | null }[]>;
  /** Announces presence to every replica (the events bus; the NOTIFY bridge forwards it). */
  publish(event: EphemeralEvent): void;
  presence?: { refreshMs?: number; ttlMs?: number };
  /** Forget a conversation's mark after this long without traffic (default 10 minutes). */
  forgetAfterMs?: number;
}

interface ConversationState {
  /** Every seq ≤ delivered was handed to every socket here that may see it; null: not known yet. */
  delivered: number | null;
  chain: Promise<void>;
  /** Tasks queued or running (a state is never forgotten while it has some). */
  pending: number;
  touchedAt: number;
}

export function newConnection(
  init: { role: 'visitor'; contactId: string } | { role: 'agent'; actor: Actor },
  send: (event: ServerEvent) => void,
  close: (code: number, reason: string) => void = () => undefined,
): HubConnection {
  return {
    id: randomUUID(),
    role: init.role,
    contactId: init.role === 'visitor' ? init.contactId : null,
    actor: init.role === 'agent' ? init.actor : null,
    sent: new Map(),
    attachedAt: Date.now(),
    replaying: new Map(),
    status: 'online',
    presentIn: new Map(),
    send,
    close,
  };
}

function roomsOf(conn: HubConnection): string[] {
  if (conn.role === 'visitor') return [`contact:${conn.contactId}`];
  const actor = conn.actor!;
  if (actor.role === 'admin') return ['admins', `user:${actor.userId}`];
  return [`user:${actor.userId}`, 'unrouted', ...actor.teamIds.map((t) => `team:${t}`)];
}

function agentRooms(r: { teamId: string | null; assigneeId: string | null }): string[] {
  const rooms = ['admins', r.teamId ? `team:${r.teamId}` : 'unrouted'];
  if (r.assigneeId) rooms.push(`user:${r.assigneeId}`);
  return rooms;
}

export function createHub(deps: HubDeps) {
  const rooms = new Map<string, Set<HubConnection>>();
  const conversations = new Map<string, ConversationState>();
  const connections = new Set<HubConnection>();
  /** Agent sockets here, per user. */
  const agentSockets = new Map<string, Set<HubConnection>>();
  /** Visitor sockets here, per conversation they follow. */
  const visitorSockets = new Map<string, number>();
  let deliveredMessages = 0;
  /** Local batches that did not connect (read from the database), marks derived from the
   *  database, states forgotten. */
  let gapsFilled = 0;
  let establishedFromDatabase = 0;
  let forgotten = 0;

  const presence = createPresence({
    publish: (event) => deps.publish(event),
    onChange: (c) => presenceChanged(c),
    ...deps.presence,
  });

  function presenceChanged({ subject, status, meta }: PresenceChange) {
    if (subject.startsWith('agent:')) {
      const userId = subject.slice('agent:'.length);
      for (const conn of connections)
        if (conn.role === 'agent') conn.send({ type: 'presence', userId, status });
    } else if (subject.startsWith('visitor:') && meta) {
      const conversationId = subject.slice('visitor:'.length);
      for (const conn of members(agentRooms(meta)))
        conn.send({ type: 'visitor_presence', conversationId, online: status !== 'offline' });
    }
  }

  /** This replica's word on a user: online if any socket here is, away if all are, else none. */
  function agentPresence(userId: string) {
    const set = agentSockets.get(userId);
    const status = !set?.size ? null : [...set].some((c) => c.status === 'online') ? 'online' : 'away';
    presence.setLocal(`agent:${userId}`, status);
  }

  function join(conn: HubConnection) {
    for (const room of roomsOf(conn)) {
      let set = rooms.get(room);
      if (!set) rooms.set(room, (set = new Set()));
      set.add(conn);
    }
  }

  function leave(conn: HubConnection) {
    for (const room of roomsOf(conn)) {
      const set = rooms.get(room);
      set?.delete(conn);
      if (set?.size === 0) rooms.delete(room);
    }
  }

  /** The socket no longer sees this conversation: it is told once and gets nothing more of it. */
  function removeFromView(
    conn: HubConnection,
    conversationId: string,
    reason: 'reassigned' | 'access_changed',
  ) {
    conn.sent.delete(conversationId);
    conn.replaying.delete(conversationId);
    conn.send({ type: 'conversation_removed', conversationId, reason });
  }

  /** Refreshes of one user run one after another (the last one reads the latest state). */
  const refreshing = new Map<string, Promise<void>>();
  function refreshAccess(userId: string): Promise<void> {
    if (!agentSockets.has(userId)) return Promise.resolve();
    const next = (refreshing.get(userId) ?? Promise.resolve()).then(() => applyAccess(userId));
    const settled = next.catch((err: unknown) =>
      deps.logger.error({ err }, 'could not apply a change of team membership to open sockets'),
    );
    refreshing.set(userId, settled);
    void settled.then(() => {
      if (refreshing.get(userId) === settled) refreshing.delete(userId);
    });
    return settled;
  }

  /** Re-reads the user's teams and role and applies them to their open sockets here. */
  async function applyAccess(userId: string) {
    const conns = [...(agentSockets.get(userId) ?? [])];
    if (conns.length === 0) return;
    const access = await deps.accessOf(userId);
    for (const conn of conns) {
      const before = conn.actor!;
      if (!access || access.role !== before.role) {
        // Disabled, deleted or a new role: its sessions were revoked; a new sign-in is needed.
        conn.send({ type: 'error', code: 'unauthorized', message: 'Your access changed; sign in again.' });
        conn.close(1008, 'access changed');
        continue;
      }
      const same =
        access.teamIds.length === before.teamIds.length &&
        access.teamIds.every((t) => before.teamIds.includes(t));
      if (same) continue;
      leave(conn);
      conn.actor = { ...before, teamIds: access.teamIds };
      join(conn);
      conn.send({ type: 'access_changed', teamIds: access.teamIds });
      const followed = [...new Set([...conn.sent.keys(), ...conn.replaying.keys()])];
      if (followed.length === 0) continue;
      for (const r of await deps.routingsOf(followed)) {
        if (!canSee(conn.actor, r)) removeFromView(conn, r.id, 'access_changed');
      }
    }
  }

  function members(roomNames: Iterable<string>): Set<HubConnection> {
    const out = new Set<HubConnection>();
    for (const name of roomNames) for (const c of rooms.get(name) ?? []) out.add(c);
    return out;
  }

  function stateOf(conversationId: string): ConversationState {
    let st = conversations.get(conversationId);
    if (!st) {
      st = { delivered: null, chain: Promise.resolve(), pending: 0, touchedAt: Date.now() };
      conversations.set(conversationId, st);
    }
    st.touchedAt = Date.now();
    return st;
  }

  /** Runs `task` after every earlier task of the same conversation. */
  function enqueue(st: ConversationState, task: () => Promise<void>) {
    st.pending++;
    st.chain = st.chain
      .then(task)
      .catch((err: unknown) => {
        deps.logger.error({ err }, 'realtime delivery failed; the catch-up will retry');
      })
      .finally(() => {
        st.pending--;
        st.touchedAt = Date.now();
      });
    return st.chain;
  }

  function sendToSocket(conn: HubConnection, conversationId: string, event: ServerEvent, seq?: number) {
    const held = conn.replaying.get(conversationId);
    if (held) {
      held.push(event);
      return;
    }
    if (seq !== undefined) {
      if ((conn.sent.get(conversationId) ?? 0) >= seq) return;
      conn.sent.set(conversationId, seq);
    }
    conn.send(event);
  }

  /** Sends a contiguous batch to every socket that may see it. */
  function deliver(batch: CommittedBatch) {
    const { routing } = batch;
    const id = routing.conversationId;
    const visitors = members([`contact:${routing.contactId}`]);
    const agents = members(agentRooms(routing));
    for (const m of batch.messages) {
      for (const conn of agents) sendToSocket(conn, id, { type: 'message', message: m }, m.seq);
      const visible = toVisitorMessage(m);
      for (const conn of visitors) {
        if (visible) sendToSocket(conn, id, { type: 'message', message: visible }, m.seq);
        // Private notes still advance the visitor's position, silently.
        else if ((conn.sent.get(id) ?? 0) < m.seq && !conn.replaying.has(id)) conn.sent.set(id, m.seq);
      }
      deliveredMessages++;
    }
    if (batch.conversation) {
      const told = new Set(agents);
      if (batch.formerRouting) for (const c of members(agentRooms(batch.formerRouting))) told.add(c);
      for (const conn of told)
        sendToSocket(conn, id, { type: 'conversation', conversation: batch.conversation.agent });
      // Readers who saw it before this batch and no longer do (transferred away, another team).
      for (const conn of told) if (!agents.has(conn)) removeFromView(conn, id, 'reassigned');
      // The visitor's presence there now goes to the conversation's new readers only.
      if (batch.formerRouting && visitorSockets.has(id)) {
        const meta = { teamId: routing.teamId, assigneeId: routing.assigneeId };
        for (const conn of visitors) if (conn.presentIn.has(id)) conn.presentIn.set(id, meta);
        presence.setLocal(`visitor:${id}`, 'online', meta);
      }
      for (const conn of visitors)
        sendToSocket(conn, id, { type: 'conversation', conversation: batch.conversation.visitor });
    }
  }

  /** Delivers the part of a batch after the mark; the batch must reach the mark + 1. */
  function deliverAfterMark(st: ConversationState, batch: CommittedBatch) {
    const fresh = batch.messages.filter((m) => m.seq > st.delivered!);
    if (fresh.length === 0) return;
    if (fresh[0]!.seq !== st.delivered! + 1) {
      // A hole in the database itself (rows erased): the database is the truth.
      deps.logger.warn(
        { conversationId: batch.routing.conversationId, after: st.delivered, next: fresh[0]!.seq },
        'seq hole in the database; delivering from the next stored seq',
      );
    }
    deliver({ ...batch, messages: fresh });
    st.delivered = fresh[fresh.length - 1]!.seq;
  }

  /** Reads (delivered, uptoSeq] from the database and delivers it, page after page. */
  async function fill(st: ConversationState, conversationId: string, uptoSeq: number) {
    while (st.delivered! < uptoSeq) {
      const loaded = await deps.loadCommitted(conversationId, st.delivered!, uptoSeq);
      if (!loaded || loaded.messages.length === 0) {
        // Committed rows that are gone (the conversation was deleted): nothing to deliver.
        st.delivered = uptoSeq;
        return;
      }
      deliverAfterMark(st, loaded);
    }
  }

  /** Everyone here who may see a conversation with this routing. */
  function readersOf(r: ConversationRouting): Set<HubConnection> {
    return members([...agentRooms(r), `contact:${r.contactId}`]);
  }

  /**
   * First sight of a conversation: seq first..last are committed and `head` holds them (a local
   * batch) or is read now. Where each reader stands decides where delivery starts (see the
   * invariant at the top of this file).
   */
  async function establish(
    st: ConversationState,
    conversationId: string,
    first: number,
    last: number,
    known: CommittedBatch | null,
  ) {
    const head = known ?? (await deps.loadCommitted(conversationId, first - 1, last));
    if (!head) {
      st.delivered = last; // deleted meanwhile
      return;
    }
    let lowest = Infinity;
    let attachedSince = Infinity;
    for (const conn of readersOf(head.routing)) {
      const at = conn.sent.get(conversationId);
      if (at !== undefined) lowest = Math.min(lowest, at);
      else attachedSince = Math.min(attachedSince, conn.attachedAt);
    }
    const after = first - 1;
    st.delivered = after;
    if (after > 0 && (lowest < after || attachedSince < Infinity)) {
      // Older seqs some reader here may still need.
      const from = Math.min(lowest, after);
      const since = attachedSince < Infinity ? new Date(attachedSince - LATE_COMMIT_MARGIN_MS) : undefined;
      const older = await deps.loadCommitted(conversationId, from, after, since);
      const start = older?.messages[0]?.seq;
      if (older && start !== undefined) {
        st.delivered = start - 1;
        deliverAfterMark(st, older);
        await fill(st, conversationId, after);
      }
      establishedFromDatabase++;
    }
    deliverAfterMark(st, head);
    await fill(st, conversationId, last);
  }

  /** Seq first..last of a conversation are committed: deliver whatever is missing up to last. */
  async function advance(
    st: ConversationState,
    conversationId: string,
    first: number,
    last: number,
    known: CommittedBatch | null,
  ) {
    if (st.delivered === null) return establish(st, conversationId, first, last, known);
    if (last <= st.delivered) return;
    if (known && first <= st.delivered + 1) {
      deliverAfterMark(st, known);
      return;
    }
    // A notification is always read from the database; a local batch only when it does not
    // connect (an earlier seq committed elsewhere, or locally but announced later).
    if (known) gapsFilled++;
    await fill(st, conversationId, last);
  }

  function routingRooms(r: ConversationRouting, includeVisitor: boolean): Set<HubConnection> {
    const names = agentRooms(r);
    if (includeVisitor) names.push(`contact:${r.contactId}`);
    return members(names);
  }

  const forgetAfterMs = deps.forgetAfterMs ?? FORGET_AFTER_MS;
  const sweeper = setInterval(
    () => {
      const cutoff = Date.now() - forgetAfterMs;
      for (const [id, st] of conversations)
        if (st.touchedAt < cutoff && st.pending === 0) {
          conversations.delete(id);
          forgotten++;
        }
    },
    Math.min(60_000, Math.max(250, forgetAfterMs / 4)),
  );
  sweeper.unref();

  return {
    /** Registers a socket in its rooms; it receives live traffic from now on. */
    attach(conn: HubConnection): { firstOfUser: boolean } {
      conn.attachedAt = Date.now();
      connections.add(conn);
      join(conn);
      if (conn.role === 'agent') {
        const userId = conn.actor!.userId;
        let set = agentSockets.get(userId);
        if (!set) agentSockets.set(userId, (set = new Set()));
        set.add(conn);
        agentPresence(userId);
        // Where everyone stands now, from every replica.
        for (const p of presence.present('agent:')) {
          conn.send({ type: 'presence', userId: p.subject.slice('agent:'.length), status: p.status });
        }
        return { firstOfUser: set.size === 1 };
      }
      return { firstOfUser: false };
    },

    /** An agent socket says online or away. */
    setStatus(conn: HubConnection, status: 'online' | 'away') {
      if (conn.role !== 'agent' || conn.status === status) return;
      conn.status = status;
      if (connections.has(conn)) agentPresence(conn.actor!.userId);
    },

    /** A visitor socket follows a conversation (resumed it): the visitor is present there. */
    visitorFollows(conn: HubConnection, routing: ConversationRouting) {
      if (conn.role !== 'visitor' || conn.presentIn.has(routing.conversationId) || !connections.has(conn))
        return;
      const meta = { teamId: routing.teamId, assigneeId: routing.assigneeId };
      conn.presentIn.set(routing.conversationId, meta);
      const n = (visitorSockets.get(routing.conversationId) ?? 0) + 1;
      visitorSockets.set(routing.conversationId, n);
      if (n === 1) presence.setLocal(`visitor:${routing.conversationId}`, 'online', meta);
    },

    /** Is the visitor of this conversation connected to any replica? */
    visitorOnline(conversationId: string): boolean {
      return presence.status(`visitor:${conversationId}`) !== 'offline';
    },

    detach(conn: HubConnection): { lastOfUser: boolean } {
      if (!connections.delete(conn)) return { lastOfUser: false };
      leave(conn);
      if (conn.role === 'agent') {
        const userId = conn.actor!.userId;
        const set = agentSockets.get(userId);
        set?.delete(conn);
        if (set?.size === 0) agentSockets.delete(userId);
        agentPresence(userId);
        return { lastOfUser: !agentSockets.has(userId) };
      }
      for (const id of conn.presentIn.keys()) {
        const n = (visitorSockets.get(id) ?? 1) - 1;
        if (n > 0) visitorSockets.set(id, n);
        else {
          visitorSockets.delete(id);
          presence.setLocal(`visitor:${id}`, null);
        }
      }
      return { lastOfUser: false };
    },

    /** A batch committed by this replica (not necessarily in commit order). */
    offerLocal(batch: CommittedBatch): Promise<void> {
      const id = batch.routing.conversationId;
      const first = batch.messages[0]?.seq;
      const last = batch.messages[batch.messages.length - 1]?.seq;
      if (first === undefined || last === undefined) return Promise.resolve();
      const st = stateOf(id);
      return enqueue(st, () => advance(st, id, first, last, batch));
    },

    /**
     * Seq minSeq..maxSeq of a conversation are committed: another replica said so (NOTIFY), or
     * the catch-up found them. Whatever was not delivered here yet is read and delivered.
     */
    notified(conversationId: string, minSeq: number, maxSeq: number): Promise<void> {
      const st = stateOf(conversationId);
      return enqueue(st, () => advance(st, conversationId, minSeq, maxSeq, null));
    },

    /** Resolves once everything queued for the conversation so far was delivered here. */
    settled(conversationId: string): Promise<void> {
      return conversations.get(conversationId)?.chain ?? Promise.resolve();
    },

    /** Last seq delivered for a conversation, if this replica knows it. */
    deliveredSeq(conversationId: string): number | undefined {
      return conversations.get(conversationId)?.delivered ?? undefined;
    },

    ephemeral(event: EphemeralEvent) {
      switch (event.kind) {
        case 'typing': {
          const { routing, who, typing } = event;
          for (const conn of routingRooms(routing, true)) {
            const self =
              (who.type === 'visitor' && conn.contactId === who.id) ||
              (who.type === 'agent' && conn.actor?.userId === who.id);
            if (self) continue;
            conn.send({
              type: 'typing',
              conversationId: routing.conversationId,
              // Visitors learn that an agent types, not which user id it is.
              who: conn.role === 'visitor' ? { type: who.type, id: '', name: who.name } : who,
              typing,
              expiresInMs: TYPING_EXPIRES_MS,
            });
          }
          return;
        }
        case 'read': {
          const { routing, reader, seq } = event;
          for (const conn of routingRooms(routing, true)) {
            conn.send({
              type: 'read',
              conversationId: routing.conversationId,
              reader: conn.role === 'visitor' && reader.type === 'agent' ? { type: 'agent', id: '' } : reader,
              seq,
            });
          }
          return;
        }
        case 'access': {
          for (const userId of event.userIds) void refreshAccess(userId);
          return;
        }
        case 'presence_sync':
          presence.received(event);
          return;
        case 'availability': {
          for (const conn of connections) {
            if (conn.role === 'agent')
              conn.send({ type: 'availability', userId: event.userId, status: event.status });
          }
          return;
        }
        case 'routing_rules':
          return; // for the routing module's cache (pg-bridge onRemoteEphemeral), not for sockets
        case 'knowledge':
          return; // for matchers (container.ts), not for sockets
      }
    },

    /** The user's presence on any replica. */
    agentStatus(userId: string) {
      return presence.status(`agent:${userId}`);
    },

    stats() {
      return {
        connections: connections.size,
        conversationsTracked: conversations.size,
        deliveredMessages,
        gapsFilled,
        establishedFromDatabase,
        forgotten,
      };
    },

    close() {
      clearInterval(sweeper);
      presence.close();
    },
  };
}

export type Hub = ReturnType<typeof createHub>;
