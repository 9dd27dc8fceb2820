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
  }
}

export default async function setup(project: TestProject) {
  const server = await findTestPostgres();
  const template = `parley_tpl_${randomBytes(4).toString('hex')}`;
  // Templates left by an interrupted earlier run are removed first.
  await withAdminClient(server.adminUrl, async (c) => {
    const stale = await c.query<{ datname: string }>(
      `select datname from pg_database where datname like 'parley_tpl_%' or datname like 'parley_t_%'`,
    );
    for (const { datname } of stale.rows) {
      await c.query(`drop database if exists "${datname}" with (force)`).catch(() => undefined);
    }
    await c.query(`create database "${template}"`);
  });
  await migrate(databaseUrl(server.adminUrl, template));
  project.provide('pgAdminUrl', server.adminUrl);
  project.provide('pgTemplate', template);
  project.provide('pgSource', server.source);
  return async () => {
    await dropDatabase(server.adminUrl, template);
    await server.stop();
  };
}
