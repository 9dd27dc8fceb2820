// The one definition of chat text rules (realtime/text-rules.ts) and the per-IP frame budget
// (realtime/rate-limit.ts): pure logic, no server.
import { describe, expect, it } from 'vitest';
import {
  RECONNECT_FRAMES,
  connectionFrames,
  createIpLimits,
  tokenBucket,
} from '../../src/realtime/rate-limit.ts';
import {
  MAX_RESUME_ENTRIES,
  findUnstorable,
  maxFrameBytes,
  textLength,
  textProblem,
  truncateText,
  unstorableCharacter,
  withoutUnstorable,
} from '../../src/realtime/text-rules.ts';

describe('text rules', () => {
  it('counts code points: an emoji, a Chinese character and a letter are one each', () => {
    expect(textLength('a中😀')).toBe(3);
    expect('a中😀'.length).toBe(4);
    expect(textLength('😀'.repeat(5000))).toBe(5000);
    // A lone surrogate counts as one (it is refused anyway).
    expect(textLength('\ud800x')).toBe(2);
    expect(textProblem('😀'.repeat(5000), 5000)).toBeNull();
    expect(textProblem('😀'.repeat(5001), 5000)).toBe('too_long');
    expect(textProblem(' \n ', 5000)).toBe('empty');
  });

  it('cuts at code points, never inside a surrogate pair', () => {
    expect(truncateText('ab😀c', 3)).toBe('ab😀');
    expect(truncateText('😀😀', 1)).toBe('😀');
    expect(truncateText('abc', 10)).toBe('abc');
  });

  it('names NUL and unpaired surrogates, and finds them anywhere in a frame', () => {
    expect(unstorableCharacter('fine 😀 中')).toBeNull();
    expect(unstorableCharacter('a\u0000')).toBe('U+0000 (NUL)');
    expect(unstorableCharacter('a\ud83d')).toBe('an unpaired surrogate U+D83D');
    expect(unstorableCharacter('\ude00b')).toBe('an unpaired surrogate U+DE00');
    expect(withoutUnstorable('a\u0000b\ud800c😀')).toBe('abc😀');
    expect(findUnstorable({ type: 'send', text: 'ok', attributes: { list: ['x', 'y\u0000'] } })).toEqual({
      field: 'attributes.list.1',
      what: 'U+0000 (NUL)',
    });
    expect(findUnstorable({ ['k\u0000']: 1 })).toMatchObject({ field: 'k\u0000' });
    expect(findUnstorable({ a: [1, null, true, 'fine'] })).toBeNull();
    // The first one in document order; and no stack overflow on deep nesting.
    expect(findUnstorable({ a: 'x\u0000', b: 'y\u0000' })).toMatchObject({ field: 'a' });
    let deep: unknown = 'bottom\u0000';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(findUnstorable(deep)?.what).toBe('U+0000 (NUL)');
  });

  it('sizes the frame limit for the longest message \\u-escaped and for a full resume', () => {
    const escapedEmoji = JSON.stringify('😀'.repeat(5000)).replace(
      /[\ud800-\udfff]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16)}`,
    );
    expect(maxFrameBytes(5000)).toBeGreaterThan(escapedEmoji.length + 200);
    const resume = JSON.stringify(
      {
        type: 'resume',
        ref: 'r'.repeat(64),
        conversations: Array.from({ length: MAX_RESUME_ENTRIES }, () => ({
          conversationId: '5d1e0000-0000-4000-8000-000000000000',
          lastSeq: Number.MAX_SAFE_INTEGER,
        })),
      },
      null,
      1,
    );
    expect(maxFrameBytes(1)).toBeGreaterThan(resume.length);
  });
});

describe('per-IP frame budget', () => {
  it('lets every connection of a reconnect storm send its first frames; after them the address’s rate holds', () => {
    let now = 0;
    const ip = createIpLimits({ maxConnections: 5000, framesPerSecond: 400, now: () => now });
    const conns = Array.from({ length: 1000 }, () => {
      expect(ip.open('10.0.0.1')).toBe(true);
      return connectionFrames(
        tokenBucket(20, 40, () => now),
        ip,
        '10.0.0.1',
      );
    });
    // All 1,000 send hello + resends at the same instant: nothing refused.
    for (let k = 0; k < RECONNECT_FRAMES; k++) for (const c of conns) expect(c.take()).toBe(true);
    // Then the shared bucket: its burst (2 × rate) across all of them, then the rate.
    let taken = 0;
    for (const c of conns) while (c.take()) taken++;
    expect(taken).toBe(800);
    now += 1000;
    taken = 0;
    for (const c of conns) while (c.take()) taken++;
    expect(taken).toBe(400);
  });

  it('still holds one connection to its own bucket', () => {
    let now = 0;
    const ip = createIpLimits({ maxConnections: 10, framesPerSecond: 1000, now: () => now });
    ip.open('a');
    const c = connectionFrames(
      tokenBucket(20, 40, () => now),
      ip,
      'a',
    );
    let taken = 0;
    while (c.take()) taken++;
    expect(taken).toBe(40);
    now += 1000;
    taken = 0;
    while (c.take()) taken++;
    expect(taken).toBe(20);
  });
});
