// Measures backup time, archive size and restore time for a database of 1,000,000 chat
// messages, through the real `parley backup` commands. Run once by hand (not part of the tests):
//
//   node scripts/bench/backup-restore.ts [--messages 1000000] [--encrypt] [--keep]
//
// BENCH_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres) must allow CREATE
// DATABASE. The script creates parley_bench_backup (and parley_bench_restore), drops them at the
// end unless --keep, and prints the figures as a Markdown table.
//
// What is measured: Parley's schema (all migrations) with 1,000,000 rows in its real `messages`
// table (chat-sized text bodies of 3-40 words in English and Chinese, every index including the
// GIN full-text index), in 50,000 conversations of 50,000 contacts. Index builds are a large part
// of a restore, so they are included.
import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { migrate } from '../../server/src/platform/db/migrator.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '1000000' },
    encrypt: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const MESSAGES = Number(values.messages);
const PER_CONVERSATION = 20;
const adminUrl = process.env.BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const ROOT = path.resolve(import.meta.dirname, '../..');
const dbUrl = (name: string) => {
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
};

async function sql(url: string, text: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(text);
  } finally {
    await c.end();
  }
}

function timed<T>(label: string, fn: () => T): { result: T; seconds: number } {
  process.stderr.write(`… ${label}\n`);
  const t0 = performance.now();
  const result = fn();
  const seconds = (performance.now() - t0) / 1000;
  process.stderr.write(`  ${label}: ${seconds.toFixed(1)} s\n`);
  return { result, seconds };
}

async function timedAsync<T>(label: string, fn: () => Promise<T>): Promise<{ result: T; seconds: number }> {
  process.stderr.write(`… ${label}\n`);
  const t0 = performance.now();
  const result = await fn();
  const seconds = (performance.now() - t0) / 1000;
  process.stderr.write(`  ${label}: ${seconds.toFixed(1)} s\n`);
  return { result, seconds };
}

const work = mkdtempSync(path.join(tmpdir(), 'parley-bench-backup-'));
const env: NodeJS.ProcessEnv = {
  ...process.env,
  PARLEY_ENV_FILE: '/dev/null',
  DATABASE_URL: dbUrl('parley_bench_backup'),
  BACKUP_DIR: path.join(work, 'archives'),
  BACKUP_CRON: 'off',
  PARLEY_LOG_LEVEL: 'warn',
};
if (values.encrypt) {
  const keys = generateKeyPairSync('rsa', {
    modulusLength: 3072,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  writeFileSync(path.join(work, 'public.pem'), keys.publicKey);
  writeFileSync(path.join(work, 'private.pem'), keys.privateKey, { mode: 0o600 });
  env.BACKUP_ENCRYPT_PUBLIC_KEY = path.join(work, 'public.pem');
  env.BACKUP_DECRYPT_PRIVATE_KEY = path.join(work, 'private.pem');
}

function parley(args: string[]): string {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'server/src/cli/main.ts'), ...args], {
    env,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0)
    throw new Error(`parley ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

try {
  for (const name of ['parley_bench_backup', 'parley_bench_restore']) {
    await sql(adminUrl, `drop database if exists ${name} with (force)`);
  }
  await sql(adminUrl, 'create database parley_bench_backup');
  await migrate(dbUrl('parley_bench_backup'));
  const generate = await timedAsync(`generate ${MESSAGES.toLocaleString('en')} messages`, async () => {
    const url = dbUrl('parley_bench_backup');
    // Parley's own tables. The message indexes are dropped while loading and rebuilt with their
    // exact definitions afterwards (faster to generate; the archive is the same).
    const { rows: indexes } = await sql(
      url,
      `select indexdef from pg_indexes where tablename = 'messages' and indexname in
         ('messages_created_idx', 'messages_body_search_idx')`,
    );
    await sql(url, 'drop index messages_created_idx; drop index messages_body_search_idx');
    await sql(
      url,
      `
      insert into contacts (name, created_at)
        select 'Visitor ' || g, now() - (g || ' minutes')::interval
        from generate_series(1, ${Math.ceil(MESSAGES / PER_CONVERSATION)}) g;
      insert into conversations (channel_id, contact_id, last_seq, last_public_seq, last_activity_at, created_at)
        select (select id from channels order by created_at limit 1), c.id, ${PER_CONVERSATION},
               ${PER_CONVERSATION}, c.created_at + interval '${PER_CONVERSATION} seconds', c.created_at
        from contacts c;
      insert into messages (conversation_id, seq, client_id, sender_type, sender_id, kind, body, created_at)
        select c.id, s, md5(c.id::text || s), case when s % 2 = 0 then 'agent' else 'visitor' end,
          case when s % 2 = 0 then null else c.contact_id end, 'text',
          (select string_agg(w.words[1 + floor(random() * array_length(w.words, 1))::int], ' ')
             from generate_series(1, 3 + (abs(hashtext(c.id::text || s)) % 38)),
                  (select array['hello','thanks','order','refund','delivery','the','my','is','not','working',
                    'please','help','when','will','arrive','tracking','number','account','password','reset',
                    'invoice','payment','failed','card','can','you','check','again','today','tomorrow',
                    'sorry','for','delay','we','have','sent','a','new','link','email',
                    '你好','谢谢','订单','退款','快递','什么时候','到','账号','密码','发票',
                    '请','帮','我','查','一下','已经','处理','好的','没问题','稍等']) as w(words)
             where s > 0),
          c.created_at + (s || ' seconds')::interval
        from conversations c, generate_series(1, ${PER_CONVERSATION}) s
        limit ${MESSAGES};
      `,
    );
    for (const { indexdef } of indexes as { indexdef: string }[]) await sql(url, indexdef);
    await sql(dbUrl('parley_bench_backup'), 'vacuum analyze');
  });
  const size = await sql(
    dbUrl('parley_bench_backup'),
    `select pg_database_size(current_database()) as db, (select count(*) from messages) as n,
            (select avg(length(body))::int from messages) as avg_body`,
  );
  const { db: dbBytes, n, avg_body: avgBody } = size.rows[0] as { db: string; n: string; avg_body: number };

  const create = timed('parley backup create', () => parley(['backup', 'create']));
  const archive = /backup written: (\S+)/.exec(create.result)![1]!;
  const archiveBytes = statSync(archive).size;
  const verify = timed('parley backup verify', () => parley(['backup', 'verify', archive]));
  const verifyRestore = Number(/restore took ([\d.]+) s/.exec(verify.result)![1]);
  await sql(adminUrl, 'create database parley_bench_restore');
  const restore = timed('parley backup restore (into an empty database)', () =>
    parley(['backup', 'restore', archive, '--target', dbUrl('parley_bench_restore')]),
  );

  const mib = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MiB`;
  const pgVersion = execFileSync('pg_dump', ['--version'], { encoding: 'utf8' }).trim();
  console.log(`
Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, ${pgVersion}, PostgreSQL on the same host
Data: ${Number(n).toLocaleString('en')} messages (average body ${avgBody} characters) in ${Math.ceil(MESSAGES / PER_CONVERSATION).toLocaleString('en')} conversations; database size ${mib(Number(dbBytes))}; generated in ${generate.seconds.toFixed(0)} s
Encryption: ${values.encrypt ? 'on (RSA-3072 / AES-256-GCM)' : 'off'}

| step | time | |
|---|---|---|
| \`parley backup create\` | ${create.seconds.toFixed(1)} s | archive ${mib(archiveBytes)} |
| \`parley backup verify\` | ${verify.seconds.toFixed(1)} s | of which restore into the scratch database ${verifyRestore.toFixed(1)} s |
| \`parley backup restore --target\` (empty database, then migrate + audit) | ${restore.seconds.toFixed(1)} s | |
`);
} finally {
  if (!values.keep) {
    for (const name of ['parley_bench_backup', 'parley_bench_restore']) {
      await sql(adminUrl, `drop database if exists ${name} with (force)`).catch(() => undefined);
    }
    rmSync(work, { recursive: true, force: true });
  } else {
    process.stderr.write(`kept: databases parley_bench_backup, parley_bench_restore; files in ${work}\n`);
  }
}
