// Presence between replicas without sockets: batching under the NOTIFY payload limit, the best
// status across replicas, and expiry of what a silent replica said. The logic is time-based, so
// the clock is a fake one (setTimeout, setInterval and Date): each step is advanced exactly,
// with the production timings, and nothing depends on how busy the machine is.
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { EphemeralEvent } from '../../src/platform/events.ts';
import { createPresence, PRESENCE_TTL_MS, type PresenceChange } from '../../src/realtime/presence.ts';

type Sync = Extract<EphemeralEvent, { kind: 'presence_sync' }>;
/** How long changes are gathered before they are sent (presence.ts FLUSH_MS). */
const FLUSH_MS = 200;
const closers: (() => void)[] = [];
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
});
afterEach(() => {
  closers.splice(0).forEach((c) => c());
  vi.useRealTimers();
});

describe('presence', () => {
  it('batches many changes into notifications that each fit a NOTIFY payload, after the flush delay', () => {
    const sent: Sync[] = [];
    const p = createPresence({ publish: (e) => sent.push(e as Sync), onChange: () => undefined });
    closers.push(() => p.close());
    const meta = { teamId: randomUUID(), assigneeId: randomUUID() };
    const ids = Array.from({ length: 1000 }, () => randomUUID());
    for (const id of ids) p.setLocal(`visitor:${id}`, 'online', meta);
    vi.advanceTimersByTime(FLUSH_MS - 1);
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(sent.length).toBeGreaterThan(1);
    for (const e of sent)
      expect(Buffer.byteLength(JSON.stringify({ r: randomUUID(), e }))).toBeLessThan(7800);
    expect(sent.flatMap((e) => e.entries.map((x) => x.subject)).sort()).toEqual(
      ids.map((i) => `visitor:${i}`).sort(),
    );
  });

  it('reports the best status any replica gives, and forgets a replica that stops repeating', () => {
    // Three replicas on one "NOTIFY channel"; a dead replica's notifications stop.
    const dead = new Set<string>();
    const all: ReturnType<typeof createPresence>[] = [];
    const changes: PresenceChange[] = [];
    const lastHeard = new Map<string, number>();
    const make = (name: string, watch = false) => {
      const p = createPresence({
        publish: (e) => {
          if (dead.has(name)) return;
          lastHeard.set(name, Date.now());
          for (const other of all) other.received(e as Sync);
        },
        onChange: (ch) => (watch ? changes.push(ch) : undefined),
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
    expect(c.status('agent:u1')).toBe('offline'); // nothing sent yet
    vi.advanceTimersByTime(FLUSH_MS);
    expect(c.status('agent:u1')).toBe('online');
    // (A's notification and B's leave in the same tick, A's first.)
    expect(changes.map((ch) => ch.status)).toEqual(['away', 'online']);

    // B's agent leaves: A's "away" remains.
    b.setLocal('agent:u1', null);
    vi.advanceTimersByTime(FLUSH_MS);
    expect(c.status('agent:u1')).toBe('away');

    // A keeps repeating: C keeps believing it, however long.
    vi.advanceTimersByTime(3 * PRESENCE_TTL_MS);
    expect(c.status('agent:u1')).toBe('away');

    // A dies without a word: C holds what it said for the TTL, then forgets it at its next
    // sweep (every refresh interval) and tells its readers.
    dead.add('a');
    const silentSince = lastHeard.get('a')!;
    // (The replicas started together, so C sweeps at the moments A used to repeat itself: the
    // sweep at exactly the TTL after A last spoke forgets it.)
    vi.advanceTimersByTime(silentSince + PRESENCE_TTL_MS - 1 - Date.now());
    expect(c.status('agent:u1')).toBe('away');
    vi.advanceTimersByTime(1);
    expect(c.status('agent:u1')).toBe('offline');
    expect(changes.map((ch) => ch.status)).toEqual(['away', 'online', 'away', 'offline']);
  });
});
