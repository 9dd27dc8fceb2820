// Presence across replicas: who is online, ephemeral (never stored in a table), throttled and
// expiring. Each replica knows its own sockets; it tells the others through the events bus
// (and so through NOTIFY) in small batches:
// - changes (an agent's first socket, last socket, online ⇄ away; a visitor's socket on a
//   conversation opens or closes) are gathered for FLUSH_MS and sent together;
// - every REFRESH_MS the replica repeats its whole local state; what another replica said
//   expires TTL_MS after it last said it, so a replica that crashed is forgotten by the others.
// A subject's status is the best any replica reports: online > away > offline.
import { randomUUID } from 'node:crypto';
import type { EphemeralEvent, PresenceEntry } from '../platform/events.ts';

export const PRESENCE_REFRESH_MS = 15_000;
export const PRESENCE_TTL_MS = 45_000;
const FLUSH_MS = 200;
/** Bytes of entries per notification (NOTIFY payloads must stay under 8,000 bytes). */
const CHUNK_BYTES = 6000;

export type PresenceStatus = 'online' | 'away' | 'offline';
type Meta = PresenceEntry['meta'];

const RANK: Record<PresenceStatus, number> = { offline: 0, away: 1, online: 2 };

export interface PresenceChange {
  subject: string;
  status: PresenceStatus;
  meta: Meta;
}

export function createPresence(deps: {
  publish(event: EphemeralEvent): void;
  onChange(change: PresenceChange): void;
  refreshMs?: number;
  ttlMs?: number;
}) {
  const replica = randomUUID();
  const refreshMs = deps.refreshMs ?? PRESENCE_REFRESH_MS;
  const ttlMs = deps.ttlMs ?? PRESENCE_TTL_MS;
  /** This replica: subject → status and routing metadata. */
  const local = new Map<string, { status: Exclude<PresenceStatus, 'offline'>; meta: Meta }>();
  /** Other replicas: subject → replica → what it said, until when. */
  type Said = { status: PresenceStatus; meta: Meta; expiresAt: number };
  const remote = new Map<string, Map<string, Said>>();
  const pending = new Map<string, PresenceEntry>();
  let flushTimer: NodeJS.Timeout | undefined;

  /** What readers were last told: expired entries count until the sweep removes (and reports) them. */
  function statusOf(subject: string): { status: PresenceStatus; meta: Meta } {
    let best: { status: PresenceStatus; meta: Meta } = { status: 'offline', meta: local.get(subject)?.meta };
    const mine = local.get(subject);
    if (mine) best = { status: mine.status, meta: mine.meta };
    for (const r of remote.get(subject)?.values() ?? []) {
      if (RANK[r.status] > RANK[best.status]) best = { status: r.status, meta: r.meta };
      if (!best.meta) best.meta = r.meta;
    }
    return best;
  }

  /** Runs `change` and reports the subject's overall status if it moved. */
  function tracking(subject: string, change: () => void) {
    const before = statusOf(subject);
    change();
    const after = statusOf(subject);
    // Gone everywhere: readers are found through the routing it had.
    if (after.status !== before.status)
      deps.onChange({ subject, status: after.status, meta: after.meta ?? before.meta });
  }

  function publish(entries: PresenceEntry[]) {
    let chunk: PresenceEntry[] = [];
    let bytes = 0;
    for (const e of entries) {
      const size = JSON.stringify(e).length + 1;
      if (bytes + size > CHUNK_BYTES && chunk.length > 0) {
        deps.publish({ kind: 'presence_sync', replica, ttlMs, entries: chunk });
        chunk = [];
        bytes = 0;
      }
      chunk.push(e);
      bytes += size;
    }
    if (chunk.length > 0) deps.publish({ kind: 'presence_sync', replica, ttlMs, entries: chunk });
  }

  function flush() {
    flushTimer = undefined;
    const entries = [...pending.values()];
    pending.clear();
    publish(entries);
  }

  const refresher = setInterval(() => {
    // Repeat what this replica knows, then forget what others stopped repeating.
    publish([...local].map(([subject, v]) => ({ subject, status: v.status, meta: v.meta })));
    const now = Date.now();
    for (const [subject, byReplica] of remote) {
      const expired = [...byReplica].filter(([, r]) => r.expiresAt <= now).map(([id]) => id);
      if (expired.length === 0) continue;
      tracking(subject, () => {
        for (const id of expired) byReplica.delete(id);
        if (byReplica.size === 0) remote.delete(subject);
      });
    }
  }, refreshMs);
  refresher.unref();

  return {
    replica,

    /** This replica's own view of a subject changed (status null: no socket here any more). */
    setLocal(subject: string, status: Exclude<PresenceStatus, 'offline'> | null, meta?: Meta) {
      const had = local.get(subject);
      const sameMeta =
        meta === undefined ||
        (had?.meta?.teamId === meta.teamId && had?.meta?.assigneeId === meta.assigneeId);
      if ((had?.status ?? null) === status && sameMeta) return;
      tracking(subject, () => {
        if (status) local.set(subject, { status, meta: meta ?? had?.meta });
        else local.delete(subject);
      });
      pending.set(subject, { subject, status: status ?? 'offline', meta: meta ?? had?.meta });
      flushTimer ??= setTimeout(flush, FLUSH_MS);
    },

    /** What another replica said (its own notifications are ignored). */
    received(event: Extract<EphemeralEvent, { kind: 'presence_sync' }>) {
      if (event.replica === replica) return;
      const expiresAt = Date.now() + event.ttlMs;
      for (const e of event.entries) {
        tracking(e.subject, () => {
          let byReplica = remote.get(e.subject);
          if (e.status === 'offline') {
            byReplica?.delete(event.replica);
            if (byReplica?.size === 0) remote.delete(e.subject);
            return;
          }
          if (!byReplica) remote.set(e.subject, (byReplica = new Map<string, Said>()));
          byReplica.set(event.replica, { status: e.status, meta: e.meta, expiresAt });
        });
      }
    },

    status(subject: string): PresenceStatus {
      return statusOf(subject).status;
    },

    /** Every subject with the given prefix that is online or away somewhere. */
    present(prefix: string): { subject: string; status: PresenceStatus }[] {
      const subjects = new Set([...local.keys(), ...remote.keys()].filter((s) => s.startsWith(prefix)));
      return [...subjects]
        .map((subject) => ({ subject, status: statusOf(subject).status }))
        .filter((p) => p.status !== 'offline');
    },

    close() {
      clearInterval(refresher);
      if (flushTimer) clearTimeout(flushTimer);
    },
  };
}

export type Presence = ReturnType<typeof createPresence>;
