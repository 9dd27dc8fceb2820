// Presence between replicas without sockets: batching under the NOTIFY payload limit, the best
// status across replicas, and expiry of what a silent replica said.
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { EphemeralEvent } from '../../src/platform/events.ts';
import { createPresence, type PresenceChange } from '../../src/realtime/presence.ts';

type Sync = Extract<EphemeralEvent, { kind: 'presence_sync' }>;
const closers: (() => void)[] = [];
afterEach(() => closers.splice(0).forEach((c) => c()));

function replica(opts: { refreshMs?: number; ttlMs?: number } = {}) {
  const sent: Sync[] = [];
  const changes: PresenceChange[] = [];
  const p = createPresence({
    publish: (e) => sent.push(e as Sync),
    onChange: (c) => changes.push(c),
    ...opts,
  });
  closers.push(() => p.close());
  return { p, sent, changes };
}
const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('presence', () => {
  it('batches many changes into notifications that each fit a NOTIFY payload', async () => {
    const a = replica();
    const meta = { teamId: randomUUID(), assigneeId: randomUUID() };
    const ids = Array.from({ length: 1000 }, () => randomUUID());
    for (const id of ids) a.p.setLocal(`visitor:${id}`, 'online', meta);
    await settle(300);
    expect(a.sent.length).toBeGreaterThan(1);
    for (const e of a.sent)
      expect(Buffer.byteLength(JSON.stringify({ r: randomUUID(), e }))).toBeLessThan(7800);
    expect(a.sent.flatMap((e) => e.entries.map((x) => x.subject)).sort()).toEqual(
      ids.map((i) => `visitor:${i}`).sort(),
    );
  });

  it('reports the best status any replica gives, and forgets a replica that stops repeating', async () => {
    // Three replicas on one "NOTIFY channel"; a dead replica's notifications stop.
    const dead = new Set<string>();
    const all: ReturnType<typeof createPresence>[] = [];
    const changes: PresenceChange[] = [];
    const make = (name: string, watch = false) => {
      const p = createPresence({
        publish: (e) => {
          if (dead.has(name)) return;
          for (const other of all) other.received(e as Sync);
        },
        onChange: (ch) => (watch ? changes.push(ch) : undefined),
        refreshMs: 100,
        ttlMs: 1000,
      });
      closers.push(() => p.close());
      all.push(p);
      return p;
    };
    const a = make('a');
    const b = make('b');
    const c = make('c', true);
    a.setLocal('agent:u1', 'away');
    b.setLocal('agent:u1', 'online');
    await settle(400);
    expect(c.status('agent:u1')).toBe('online');
    // B's agent leaves: A's "away" remains.
    b.setLocal('agent:u1', null);
    await settle(400);
    expect(c.status('agent:u1')).toBe('away');
    // A dies without a word: after the TTL, C forgets it and tells its readers.
    dead.add('a');
    await settle(300);
    expect(c.status('agent:u1')).toBe('away');
    await settle(1500);
    expect(c.status('agent:u1')).toBe('offline');
    // (Which of A and B is heard first depends on their timers; the end is certain.)
    expect(changes.map((ch) => ch.status).slice(-2)).toEqual(['away', 'offline']);
    expect(changes.map((ch) => ch.status)).toContain('online');
  });
});
