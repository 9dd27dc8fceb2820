import { describe, expect, it } from 'vitest';
import { createScheduler } from '../../src/jobs/scheduler.ts';
import { openDatabase } from '../../src/platform/db/database.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { createTestDatabase } from '../support/db.ts';

const database = await createTestDatabase();
const logger = createLogger('silent');

function replica(name: string, runs: string[]) {
  const handle = openDatabase(database.url, { max: 2, connectTimeoutMs: 5000, logger });
  const scheduler = createScheduler({ db: handle.db, logger, timezone: 'Asia/Shanghai', replica: name });
  scheduler.register({
    name: 'count',
    schedule: '* * * * *',
    async run({ slot }) {
      runs.push(`${name}@${slot.toISOString()}`);
      await new Promise((r) => setTimeout(r, 20));
      return { by: name };
    },
  });
  return { scheduler, handle };
}

describe('scheduler', () => {
  it('runs each slot on exactly one of several replicas and records the outcome', async () => {
    const runs: string[] = [];
    const replicas = [replica('a', runs), replica('b', runs), replica('c', runs)];
    const slot = new Date('2026-11-21T02:30:00Z');
    const claimed = await Promise.all(replicas.map((r) => r.scheduler.runNow('count', slot)));
    expect(claimed.filter(Boolean)).toHaveLength(1);
    expect(runs).toHaveLength(1);
    const [last] = await replicas[0]!.scheduler.lastRuns('count');
    expect(last?.outcome).toBe('success');
    expect(last?.slot.toISOString()).toBe(slot.toISOString());
    for (const r of replicas) {
      await r.scheduler.stop();
      await r.handle.close();
    }
  });

  it('records a failing job as a failure with its message', async () => {
    const handle = openDatabase(database.url, { max: 2, connectTimeoutMs: 5000, logger });
    const scheduler = createScheduler({ db: handle.db, logger, timezone: 'UTC' });
    scheduler.register({
      name: 'broken',
      schedule: '0 0 * * *',
      run: () => Promise.reject(new Error('disk full')),
    });
    expect(await scheduler.runNow('broken')).toBe(true);
    const [last] = await scheduler.lastRuns('broken');
    expect(last?.outcome).toBe('failure');
    expect(last?.detail).toEqual({ error: 'disk full' });
    await handle.close();
  });

  it('refuses an invalid cron expression', () => {
    const handle = openDatabase(database.url, { max: 1, connectTimeoutMs: 5000, logger });
    const scheduler = createScheduler({ db: handle.db, logger, timezone: 'UTC' });
    expect(() =>
      scheduler.register({ name: 'x', schedule: 'every day', run: async () => undefined }),
    ).toThrow(/invalid cron expression/);
    return handle.close();
  });
});
