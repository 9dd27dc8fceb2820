// Fan-out between replicas through PostgreSQL LISTEN/NOTIFY, with nothing else to install.
//
// - NOTIFY is never issued inside a message's transaction (a notifying transaction takes a
//   database-wide lock at commit). After commit, the ids of what was committed are collected
//   for a few milliseconds and published from a separate autocommit statement, many
//   conversations per notification (payload kept under 8,000 bytes).
// - Receivers get "conversation X has seq a..b" and read the rows themselves (the hub's
//   sequencer loads anything it has not delivered yet, so gaps are filled from the database).
// - The LISTEN connection reconnects when lost and then catches up from the database.
// - A periodic catch-up compares each active conversation's last_seq with what this replica
//   delivered and has the hub read and deliver every missing seq (never skipping one): a crash
//   between commit and notify, or a lost notification, delays delivery to the next round at most.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import type { EphemeralEvent, EventBus } from '../platform/events.ts';
import type { Hub } from './hub.ts';

export const NOTIFY_CHANNEL = 'parley_events';
const MAX_PAYLOAD_BYTES = 7800;
const FLUSH_WINDOW_MS = 5;
/** A transaction may commit this long after its rows' timestamps (now() is transaction start). */
const CATCH_UP_MARGIN_MS = 30_000;

type Notice = { r: string; m: [string, number, number][] } | { r: string; e: EphemeralEvent };

export interface PgBridgeDeps {
  databaseUrl: string;
  /** Runs `select pg_notify(channel, payload)` outside any transaction. */
  notify(channel: string, payload: string): Promise<void>;
  hub: Hub;
  bus: EventBus;
  activitySince(since: Date): Promise<{ id: string; last_seq: number }[]>;
  catchUpSeconds: number;
  logger: Logger;
  /** Hears every ephemeral event another replica published (besides the hub). */
  received?: (event: EphemeralEvent) => void;
  /** Extra periodic work run with the catch-up (snooze wake-ups). */
  periodic?: () => Promise<unknown>;
}

export function createPgBridge(deps: PgBridgeDeps) {
  const replicaId = randomUUID();
  const log = deps.logger.child({ component: 'realtime-bridge' });
  let listener: pg.Client | null = null;
  let stopped = false;
  let pending = new Map<string, [number, number]>();
  let flushScheduled = false;
  let lastCatchUp = new Date();
  let catchUpRunning: Promise<void> | null = null;
  let reconnectAttempt = 0;
  let timer: NodeJS.Timeout | undefined;
  const counters = { published: 0, received: 0, reconnects: 0, caughtUp: 0 };

  function publish(notice: Notice) {
    const payload = JSON.stringify(notice);
    deps.notify(NOTIFY_CHANNEL, payload).then(
      () => void counters.published++,
      (err: unknown) =>
        // Not fatal: other replicas find the rows at their next catch-up.
        log.warn({ err: { message: (err as Error).message } }, 'NOTIFY failed; replicas will catch up'),
    );
  }

  function flush() {
    flushScheduled = false;
    const entries = [...pending].map(([id, [a, b]]) => [id, a, b] as [string, number, number]);
    pending = new Map();
    let chunk: [string, number, number][] = [];
    let size = 64;
    for (const e of entries) {
      const bytes = e[0].length + 30;
      if (size + bytes > MAX_PAYLOAD_BYTES && chunk.length > 0) {
        publish({ r: replicaId, m: chunk });
        chunk = [];
        size = 64;
      }
      chunk.push(e);
      size += bytes;
    }
    if (chunk.length > 0) publish({ r: replicaId, m: chunk });
  }

  deps.bus.onCommitted((batch) => {
    const first = batch.messages[0]?.seq;
    const last = batch.messages[batch.messages.length - 1]?.seq;
    if (first === undefined || last === undefined) return;
    const id = batch.routing.conversationId;
    const had = pending.get(id);
    pending.set(id, had ? [Math.min(had[0], first), Math.max(had[1], last)] : [first, last]);
    if (!flushScheduled) {
      flushScheduled = true;
      // A short window gathers many commits into one NOTIFY (each NOTIFY is a round trip and
      // a commit that serialises on the notification queue lock).
      setTimeout(flush, FLUSH_WINDOW_MS);
    }
  });

  deps.bus.onEphemeral((event) => {
    const payload = JSON.stringify({ r: replicaId, e: event });
    if (Buffer.byteLength(payload) < MAX_PAYLOAD_BYTES) publish({ r: replicaId, e: event });
  });

  function onNotification(msg: pg.Notification) {
    if (msg.channel !== NOTIFY_CHANNEL || !msg.payload) return;
    let notice: Notice;
    try {
      notice = JSON.parse(msg.payload) as Notice;
    } catch {
      return;
    }
    if (notice.r === replicaId) return; // delivered locally already
    counters.received++;
    if ('m' in notice) {
      for (const [id, a, b] of notice.m) void deps.hub.notified(id, a, b);
    } else {
      deps.hub.ephemeral(notice.e);
      deps.received?.(notice.e);
    }
  }

  async function connectListener(): Promise<void> {
    const client = new pg.Client({
      connectionString: deps.databaseUrl,
      application_name: `parley-listen:${process.pid}`,
      keepAlive: true,
    });
    client.on('notification', onNotification);
    client.on('error', (err) => {
      log.warn({ err: { message: err.message } }, 'LISTEN connection lost; reconnecting');
    });
    client.on('end', () => {
      if (listener === client) listener = null;
      if (!stopped) scheduleReconnect();
    });
    await client.connect();
    await client.query(`listen ${NOTIFY_CHANNEL}`);
    listener = client;
  }

  function scheduleReconnect() {
    const delay = Math.min(5000, 100 * 2 ** Math.min(reconnectAttempt++, 6));
    setTimeout(() => {
      if (stopped) return;
      connectListener().then(
        async () => {
          reconnectAttempt = 0;
          counters.reconnects++;
          log.info('LISTEN connection restored; catching up');
          await catchUp();
        },
        (err: unknown) => {
          log.warn({ err: { message: (err as Error).message } }, 'LISTEN reconnect failed; retrying');
          scheduleReconnect();
        },
      );
    }, delay).unref();
  }

  /** Delivers anything committed recently that this replica has not delivered yet. */
  function catchUp(): Promise<void> {
    catchUpRunning ??= (async () => {
      const startedAt = new Date();
      const since = new Date(lastCatchUp.getTime() - CATCH_UP_MARGIN_MS);
      try {
        const active = await deps.activitySince(since);
        for (const { id, last_seq } of active) {
          const delivered = deps.hub.deliveredSeq(id);
          if (delivered !== undefined && last_seq <= delivered) continue;
          counters.caughtUp++;
          // Never followed here: the hub works out from its sockets what they still need.
          await deps.hub.notified(id, delivered === undefined ? last_seq : delivered + 1, last_seq);
        }
        lastCatchUp = startedAt;
        if (deps.periodic) await deps.periodic();
      } catch (err) {
        log.warn({ err: { message: (err as Error).message } }, 'catch-up failed; retrying next round');
      } finally {
        catchUpRunning = null;
      }
    })();
    return catchUpRunning;
  }

  return {
    replicaId,
    async start() {
      stopped = false;
      lastCatchUp = new Date();
      try {
        await connectListener();
      } catch (err) {
        log.warn({ err: { message: (err as Error).message } }, 'LISTEN connection failed; retrying');
        scheduleReconnect();
      }
      timer = setInterval(() => void catchUp(), deps.catchUpSeconds * 1000);
      timer.unref();
    },
    catchUp,
    stats: () => ({ ...counters, listening: listener !== null }),
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      const l = listener;
      listener = null;
      await l?.end().catch(() => undefined);
      await catchUpRunning;
    },
  };
}

export type PgBridge = ReturnType<typeof createPgBridge>;
