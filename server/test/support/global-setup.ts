// Once per test run: find a PostgreSQL server and build a migrated template database. Each test
// file then clones the template (CREATE DATABASE … TEMPLATE), so files run in parallel on
// their own databases and leave nothing behind.
//
// Several runs may share one PostgreSQL (two checkouts, a `make test` next to another, CI
// containers whose processes cannot see each other). Every database a run makes carries its
// run id (parley_tpl_r<id>, parley_t_r<id>_…), and the run holds a session advisory lock named
// after that id for as long as it lives, on the PostgreSQL server itself. Another run drops
// databases of a run id only when it can take that lock: the run that owned them is gone (an
// interrupted run). A live run's databases are never touched, whatever machine or container it
// runs in; a process id (what this used to check) says nothing across containers.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrate } from '../../src/platform/db/migrator.ts';
import { databaseUrl, dropDatabase, findTestPostgres } from './postgres.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
    pgTemplate: string;
    pgSource: string;
    /** This run's id: in the name of every database it makes (support/db.ts). */
    runId: string;
  }
}

/** The advisory lock that says a run is alive (held by its global setup's own connection). */
const RUN_LOCK = `select pg_try_advisory_lock(hashtext('parley-test-run:' || $1)) as locked`;
const RUN_UNLOCK = `select pg_advisory_unlock(hashtext('parley-test-run:' || $1))`;
export const RUN_DATABASE = /^parley_(?:tpl|t)_r([0-9a-f]{12})(?:_|$)/;

export default async function setup(project: TestProject) {
  const server = await findTestPostgres();
  const runId = randomBytes(6).toString('hex');
  const template = `parley_tpl_r${runId}`;
  // This connection lives as long as the run and holds the run's lock.
  const life = new pg.Client({
    connectionString: server.adminUrl,
    application_name: `parley-test-run:${runId}`,
  });
  life.on('error', () => undefined); // (a lost connection loses the lock; nothing else to do)
  await life.connect();
  const own = await life.query<{ locked: boolean }>(RUN_LOCK, [runId]);
  if (!own.rows[0]?.locked) throw new Error(`test run id ${runId} is taken (cannot happen twice)`);

  // Databases of runs that are gone: their lock is free.
  const runs = await life.query<{ datname: string }>(
    `select datname from pg_database where datname ~ '^parley_(tpl|t)_r[0-9a-f]{12}'`,
  );
  const checked = new Map<string, boolean>();
  for (const { datname } of runs.rows) {
    const id = RUN_DATABASE.exec(datname)?.[1];
    if (!id || id === runId) continue;
    if (!checked.has(id)) {
      const free = (await life.query<{ locked: boolean }>(RUN_LOCK, [id])).rows[0]?.locked === true;
      if (free) await life.query(RUN_UNLOCK, [id]);
      checked.set(id, free);
    }
    if (checked.get(id))
      await life.query(`drop database if exists "${datname}" with (force)`).catch(() => undefined);
  }
  await life.query(`create database "${template}"`);
  await migrate(databaseUrl(server.adminUrl, template));
  project.provide('pgAdminUrl', server.adminUrl);
  project.provide('pgTemplate', template);
  project.provide('pgSource', server.source);
  project.provide('runId', runId);
  return async () => {
    await dropDatabase(server.adminUrl, template);
    await life.end(); // releases the lock: what is left of this run may now be cleaned by others
    await server.stop();
  };
}
