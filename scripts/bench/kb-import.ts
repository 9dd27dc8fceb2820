// Measures knowledge-base imports and exports through the service the console and
// `parley kb import|export` use. Run by hand (not part of the tests):
//
//   node scripts/bench/kb-import.ts [--rows 20000] [--runs 3]
//
// BENCH_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres) must allow CREATE
// DATABASE. Each run uses a fresh database (all migrations) named parley_bench_kb_<n>, dropped at
// the end. Rows: a standard question of 10–30 Chinese characters, 3 similar questions, an answer of
// ~80 characters, a two-level category (40 categories). Per format (XLSX, CSV, JSON Lines):
// a first import (every row created), a re-import of the same file (every row matched, nothing
// changed) and an export. Medians of the runs, compared with the budget printed beside them.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { loadConfig } from '../../server/src/config/config.ts';
import { createContainer } from '../../server/src/container.ts';
import { openDatabase } from '../../server/src/platform/db/database.ts';
import { createLogger } from '../../server/src/platform/logger.ts';
import { migrate } from '../../server/src/platform/db/migrator.ts';
import { writeFile, type FileFormat } from '../../server/src/modules/knowledge/knowledge-files.ts';

const { values } = parseArgs({
  options: { rows: { type: 'string', default: '20000' }, runs: { type: 'string', default: '3' } },
});
const ROWS = Number(values.rows);
const RUNS = Number(values.runs);
/** The budget: the largest file (50,000 rows) within two minutes, i.e. 2.4 ms a row. */
const BUDGET_MS_PER_ROW = 2.4;
const adminUrl = process.env.BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const dbUrl = (name: string) => {
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
};
async function admin(text: string) {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

const HAN =
  '的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处府圣';
let seed = 7;
const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
const text = (n: number) => Array.from({ length: n }, () => HAN[Math.floor(rand() * HAN.length)]).join('');

function rows() {
  return Array.from({ length: ROWS }, (_, i) => ({
    externalId: `b-${i}`,
    question: `${text(10 + Math.floor(rand() * 20))}${i}`,
    similar: [text(12), text(14), text(16)],
    answer: text(80),
    categoryPath: `类${i % 8}/子${i % 40}`,
  }));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const actor = { id: null, name: 'bench', ip: null, userAgent: null };
const results = new Map<string, number[]>();
const note = (key: string, ms: number) => results.set(key, [...(results.get(key) ?? []), ms]);

const data = rows();
const files = new Map<FileFormat, Buffer>();
for (const f of ['xlsx', 'csv', 'jsonl'] as const) files.set(f, await writeFile(f, data));

for (let run = 0; run < RUNS; run++) {
  for (const format of ['xlsx', 'csv', 'jsonl'] as const) {
    const name = `parley_bench_kb_${run}_${format}`;
    await admin(`drop database if exists ${name}`);
    await admin(`create database ${name}`);
    try {
      const url = dbUrl(name);
      await migrate(url);
      const config = loadConfig({ DATABASE_URL: url, PARLEY_LOG_LEVEL: 'silent' });
      const logger = createLogger('silent');
      const handle = openDatabase(url, { max: 5, connectTimeoutMs: 5000, logger });
      const container = createContainer({ config, db: handle.db, logger });
      const input = { format, fileName: `bench.${format}`, bytes: files.get(format)!, dryRun: false };
      let t = performance.now();
      const first = await container.knowledgeImport.runNow(actor, input);
      note(`${format} first import`, performance.now() - t);
      if (first.created !== ROWS)
        throw new Error(`expected ${ROWS} created, got ${JSON.stringify(first.problems.slice(0, 3))}`);
      t = performance.now();
      const again = await container.knowledgeImport.runNow(actor, input);
      note(`${format} re-import (no change)`, performance.now() - t);
      if (again.updated !== 0 || again.created !== 0) throw new Error('re-import changed entries');
      t = performance.now();
      await container.knowledgeImport.export(actor, format);
      note(`${format} export`, performance.now() - t);
      await handle.close();
    } finally {
      await admin(`drop database if exists ${name} with (force)`);
    }
  }
}

console.log(
  `\n${ROWS} rows, ${RUNS} runs; budget: ${BUDGET_MS_PER_ROW} ms a row (50,000 rows in 2 minutes)\n`,
);
console.log('| step | median | per row | budget per row | within |');
console.log('|---|---|---|---|---|');
for (const [key, ms] of results) {
  const m = median(ms);
  const perRow = m / ROWS;
  console.log(
    `| ${key} | ${(m / 1000).toFixed(2)} s | ${perRow.toFixed(3)} ms | ${BUDGET_MS_PER_ROW} ms | ${perRow <= BUDGET_MS_PER_ROW ? 'yes' : 'NO'} |`,
  );
}
