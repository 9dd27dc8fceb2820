// Generates server/src/platform/db/schema.ts from the migrated schema (kysely-codegen), or with
// --verify checks that the committed file matches the migrations (run by `make check`).
//   node scripts/db-types.ts [--verify]
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { migrate } from '../server/src/platform/db/migrator.ts';
import {
  databaseUrl,
  dropDatabase,
  findTestPostgres,
  withAdminClient,
} from '../server/test/support/postgres.ts';

const root = path.resolve(import.meta.dirname, '..');
const outFile = path.join(root, 'server/src/platform/db/schema.ts');
const verify = process.argv.includes('--verify');

const server = await findTestPostgres();
const name = `parley_codegen_${randomBytes(4).toString('hex')}`;
let status: number;
try {
  await withAdminClient(server.adminUrl, (c) => c.query(`create database "${name}"`));
  const url = databaseUrl(server.adminUrl, name);
  await migrate(url);
  const result = spawnSync(
    path.join(root, 'node_modules/.bin/kysely-codegen'),
    [
      '--dialect=postgres',
      `--url=${url}`,
      `--out-file=${outFile}`,
      '--exclude-pattern=schema_migrations',
      '--type-mapping={"int8":"number"}',
      ...(verify ? ['--verify'] : []),
    ],
    { stdio: 'inherit', env: { ...process.env, DATABASE_URL: url } },
  );
  status = result.status ?? 1;
  if (verify && status !== 0) {
    console.error(
      'server/src/platform/db/schema.ts is out of date: run `make db-types` and commit the result.',
    );
  }
} finally {
  await dropDatabase(server.adminUrl, name);
  await server.stop();
}
process.exit(status);
