// Once per test run: find a PostgreSQL server and build a migrated template database. Each test
// file then clones the template (CREATE DATABASE … TEMPLATE), so files run in parallel on
// their own databases and leave nothing behind.
import { randomBytes } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { migrate } from '../../src/platform/db/migrator.ts';
import { databaseUrl, dropDatabase, findTestPostgres, withAdminClient } from './postgres.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
    pgTemplate: string;
    pgSource: string;
    /** PID of the process that owns this run's databases (names carry it, for stale clean-up). */
    runPid: number;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export default async function setup(project: TestProject) {
  const server = await findTestPostgres();
  const template = `parley_tpl_${process.pid}_${randomBytes(4).toString('hex')}`;
  // Databases left by an interrupted earlier run (whose process is gone) are removed first;
  // runs that are still going (another checkout testing at the same time) are left alone.
  await withAdminClient(server.adminUrl, async (c) => {
    const stale = await c.query<{ datname: string }>(
      `select datname from pg_database where datname ~ '^parley_(tpl|t)_[0-9]+_'`,
    );
    for (const { datname } of stale.rows) {
      const pid = Number(/^parley_(?:tpl|t)_(\d+)_/.exec(datname)?.[1]);
      if (isAlive(pid)) continue;
      await c.query(`drop database if exists "${datname}" with (force)`).catch(() => undefined);
    }
    await c.query(`create database "${template}"`);
  });
  await migrate(databaseUrl(server.adminUrl, template));
  project.provide('pgAdminUrl', server.adminUrl);
  project.provide('pgTemplate', template);
  project.provide('pgSource', server.source);
  project.provide('runPid', process.pid);
  return async () => {
    await dropDatabase(server.adminUrl, template);
    await server.stop();
  };
}
