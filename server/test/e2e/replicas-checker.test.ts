// The bounded run of the randomized multi-replica checker (scripts/check/replica-checker.ts):
// 3 real server processes on one database, about 60 clients for about a minute, with a replica
// killed with -9 and restarted, LISTEN connections terminated, reconnects to other replicas and
// a quiet spell long enough for every replica to forget its delivery marks. Any violation fails
// the test with the seed (PARLEY_CHECK_SEED=<seed> replays its schedule).
import { randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { runReplicaCheck } from '../../../scripts/check/replica-checker.ts';
import { createTestDatabase } from '../support/db.ts';

const database = await createTestDatabase();
const seed = process.env.PARLEY_CHECK_SEED ? Number(process.env.PARLEY_CHECK_SEED) : randomInt(1, 2 ** 31);

describe('the multi-replica checker, bounded', () => {
  it(`every socket gets every seq it may see once, in order; every ack is stored once (seed ${seed})`, async () => {
    const report = await runReplicaCheck({
      databaseUrl: database.url,
      seed,
      durationMs: 60_000,
      clients: 60,
      sendsPerSecond: 10,
    });
    expect(report.violations, `seed ${seed}; counts ${JSON.stringify(report.counts)}`).toEqual([]);
    // The faults really happened and the checker really looked.
    expect(report.counts.replicaKills).toBe(1);
    expect(report.counts.listenKills).toBeGreaterThan(0);
    expect(report.counts.reconnects).toBeGreaterThan(10);
    expect(report.counts.parley_chat_delivery_marks_forgotten_total).toBeGreaterThan(0);
    expect(report.counts.acked).toBeGreaterThan(200);
    expect(report.counts.deliveriesChecked).toBeGreaterThan(report.counts.acked!);
  }, 240_000);
});
