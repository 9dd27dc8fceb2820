// A fresh, migrated database for one test file, cloned from the run's template.
import { randomBytes } from 'node:crypto';
import { afterAll, inject } from 'vitest';
import { databaseUrl, dropDatabase, withAdminClient } from './postgres.ts';

// The databases this test file made, dropped once its tests are done. One hook, registered when
// the file loads: an afterAll registered later, from inside a beforeAll or a test (where many
// files make their databases), was not run, and those databases were left behind.
const created: { adminUrl: string; name: string }[] = [];
afterAll(async () => {
  for (const d of created.splice(0).reverse()) await dropDatabase(d.adminUrl, d.name);
});

/** parley_t_r<run id>_<random>: the run id tells other runs whose it is (global-setup.ts). */
function testDatabaseName(): string {
  return `parley_t_r${inject('runId')}_${randomBytes(6).toString('hex')}`;
}

export interface TestDatabase {
  url: string;
  name: string;
  adminUrl: string;
}

export async function createTestDatabase(opts: { dropAfterAll?: boolean } = {}): Promise<TestDatabase> {
  const adminUrl = inject('pgAdminUrl');
  const template = inject('pgTemplate');
  const name = testDatabaseName();
  await withAdminClient(adminUrl, async (c) => {
    // Concurrent clones of one template can collide briefly; retry.
    for (let attempt = 0; ; attempt++) {
      try {
        await c.query(`create database "${name}" template "${template}"`);
        return;
      } catch (err) {
        if (attempt >= 20 || !/being accessed by other users/.test((err as Error).message)) throw err;
        await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
      }
    }
  });
  if (opts.dropAfterAll !== false) created.push({ adminUrl, name });
  return { url: databaseUrl(adminUrl, name), name, adminUrl };
}

/** An empty database (no migrations), for migrator tests. */
export async function createEmptyDatabase(): Promise<TestDatabase> {
  const adminUrl = inject('pgAdminUrl');
  const name = testDatabaseName();
  await withAdminClient(adminUrl, (c) => c.query(`create database "${name}"`));
  created.push({ adminUrl, name });
  return { url: databaseUrl(adminUrl, name), name, adminUrl };
}
