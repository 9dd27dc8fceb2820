// Knowledge-base import and export (issue 16, point 1): XLSX, CSV (UTF-8 and GBK) and JSON Lines
// round trips through the console API and the CLI functions, dry runs, and the bad files the
// issue lists — each refused with the row and field named and nothing saved.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ExcelJS from 'exceljs';
import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { kbExport, kbImport } from '../../src/cli/knowledge.ts';
import { createTestApp, signIn } from '../support/app.ts';

const t = await createTestApp();
const ORIGIN = 'http://localhost:8080';

interface Report {
  id: string;
  status: string;
  total: number;
  processed: number;
  created: number;
  updated: number;
  errors: { row: number; field: string; message: string }[];
  errorCount: number;
  saved: boolean;
  encoding: string | null;
  dryRun: boolean;
}

async function upload(cookie: string, fileName: string, bytes: Buffer, dryRun = false): Promise<Report> {
  const res = await t.app.inject({
    method: 'POST',
    url: `/api/v1/knowledge/imports?fileName=${encodeURIComponent(fileName)}&dryRun=${dryRun}`,
    headers: { cookie, origin: ORIGIN, 'content-type': 'application/octet-stream' },
    payload: bytes,
  });
  if (res.statusCode !== 202) throw new Error(`import: ${res.statusCode} ${res.body}`);
  const id = res.json<Report>().id;
  // Poll the report like the console does, until the background work is done.
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = await t.app.inject({
      method: 'GET',
      url: `/api/v1/knowledge/imports/${id}`,
      headers: { cookie },
    });
    const report = r.json<Report>();
    if (report.status !== 'running') return report;
    if (Date.now() > deadline) throw new Error('import did not finish');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function download(cookie: string, format: string): Promise<Buffer> {
  const res = await t.app.inject({
    method: 'GET',
    url: `/api/v1/knowledge/export?format=${format}`,
    headers: { cookie },
  });
  expect(res.statusCode).toBe(200);
  return res.rawPayload;
}

async function entries() {
  const all = await t.container.knowledge.exportRows({ id: null, name: 'test', ip: null, userAgent: null });
  return new Map(all.map((e) => [e.question, e]));
}

async function xlsx(rows: string[][]): Promise<Buffer> {
  const wb = new ExcelJS.Workbook();
  const sheet = wb.addWorksheet('FAQ');
  for (const r of rows) sheet.addRow(r);
  return Buffer.from(await wb.xlsx.writeBuffer());
}

async function readXlsx(bytes: Buffer): Promise<string[][]> {
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.load(bytes as unknown as ArrayBuffer);
  const out: string[][] = [];
  wb.worksheets[0]!.eachRow((row) => {
    const cells: string[] = [];
    for (let c = 1; c <= 5; c++) cells.push(row.getCell(c).text);
    out.push(cells);
  });
  return out;
}

const csv = (rows: string[][]) =>
  rows.map((r) => r.map((c) => (/[",\n]/.test(c) ? `"${c.replace(/"/g, '""')}"` : c)).join(',')).join('\r\n');

describe('knowledge import and export', () => {
  it('imports XLSX after a dry run, with a category tree; the export reads back the same and re-imports as no change', async () => {
    const admin = await signIn(t, 'admin');
    const file = await xlsx([
      ['标准问题', '相似问题', '答案', '分类'],
      ['XLSX 运费怎么算', '运费多少\n邮费怎么算|包邮吗', '满 99 元包邮。', '物流/运费'],
      ['XLSX 多久发货', '', '下单后 48 小时内发货。', '物流'],
      ['=XLSX 公式样的问题', '', '+答案不是公式', ''],
    ]);
    const dry = await upload(admin.cookie, 'faq.xlsx', file, true);
    expect(dry).toMatchObject({
      status: 'done',
      dryRun: true,
      total: 3,
      created: 3,
      updated: 0,
      errors: [],
      saved: false,
    });
    expect((await entries()).has('XLSX 运费怎么算')).toBe(false);

    const done = await upload(admin.cookie, 'faq.xlsx', file);
    expect(done).toMatchObject({
      status: 'done',
      total: 3,
      processed: 3,
      created: 3,
      updated: 0,
      saved: true,
    });
    const e = (await entries()).get('XLSX 运费怎么算')!;
    expect(e).toMatchObject({
      similar: ['运费多少', '邮费怎么算', '包邮吗'],
      answer: '满 99 元包邮。',
      categoryPath: '物流/运费',
    });
    expect((await entries()).get('=XLSX 公式样的问题')!.answer).toBe('+答案不是公式');
    const versions = await t.container.db
      .selectFrom('kb_entry_versions')
      .select('action')
      .where('entry_id', '=', e.id)
      .execute();
    expect(versions.map((v) => v.action)).toEqual(['import']);
    const audit = await t.container.db
      .selectFrom('audit_log')
      .select('details')
      .where('action', '=', 'knowledge.import')
      .where('target_id', '=', done.id)
      .executeTakeFirstOrThrow();
    expect(audit.details).toMatchObject({ created: 3, updated: 0, format: 'xlsx' });

    const exported = await download(admin.cookie, 'xlsx');
    const table = await readXlsx(exported);
    expect(table[0]).toEqual(['标准问题', '相似问题', '答案', '分类', '外部ID']);
    expect(table).toContainEqual([
      'XLSX 运费怎么算',
      '运费多少\n邮费怎么算\n包邮吗',
      '满 99 元包邮。',
      '物流/运费',
      '',
    ]);
    // Nothing a spreadsheet would run: formula-like text stays text.
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(exported as unknown as ArrayBuffer);
    wb.worksheets[0]!.eachRow((row) =>
      row.eachCell((cell) => expect(typeof cell.value === 'string' || cell.value === null).toBe(true)),
    );
    const again = await upload(admin.cookie, 'export.xlsx', exported);
    expect(again).toMatchObject({ status: 'done', created: 0, updated: 0, errors: [] });
  });

  it('reads GBK and UTF-8 CSV (similar questions separated by a full-width "｜" and line breaks), and updates matched entries', async () => {
    const admin = await signIn(t, 'admin');
    const rows = [
      ['question', 'similar', 'answer', 'category'],
      ['CSV 怎么开发票', '开发票｜要发票\n发票在哪', '订单页 → 申请发票。', '财务'],
      ['CSV 支持哪些付款方式', '', '微信、支付宝、银行卡，"花呗"也可以。', ''],
    ];
    const gbk = iconv.encode(csv(rows), 'gbk');
    expect(() => new TextDecoder('utf-8', { fatal: true }).decode(gbk)).toThrow();
    const r1 = await upload(admin.cookie, 'faq.csv', gbk);
    expect(r1).toMatchObject({ status: 'done', encoding: 'gbk', created: 2, errors: [] });
    const e = (await entries()).get('CSV 怎么开发票')!;
    expect(e.similar).toEqual(['开发票', '要发票', '发票在哪']);
    expect((await entries()).get('CSV 支持哪些付款方式')!.answer).toBe(
      '微信、支付宝、银行卡，"花呗"也可以。',
    );

    // The same standard question again: an update (a new version), not a duplicate.
    const utf8 = Buffer.from(
      csv([rows[0]!, ['CSV 怎么开发票', '开发票', '在"我的订单"里申请。', '财务']]),
      'utf8',
    );
    const r2 = await upload(admin.cookie, 'faq.csv', utf8);
    expect(r2).toMatchObject({ encoding: 'utf-8', created: 0, updated: 1 });
    const after = (await entries()).get('CSV 怎么开发票')!;
    expect(after).toMatchObject({
      id: e.id,
      similar: ['开发票'],
      answer: '在"我的订单"里申请。',
      version: 2,
    });

    const exported = (await download(admin.cookie, 'csv')).toString('utf8');
    expect(exported.startsWith('\ufeff标准问题,相似问题,答案,分类,外部ID\r\n')).toBe(true);
    expect(exported).toContain('CSV 怎么开发票,开发票,"在""我的订单""里申请。",财务,');
  });

  it('imports JSON Lines in the dev set shape keeping id as the external key; the CLI exports and re-imports it', async () => {
    const admin = await signIn(t, 'admin');
    const lines = [
      { id: 'jl-001', question: 'JSONL 如何更改手机号码' },
      {
        id: 'jl-002',
        question: 'JSONL 取消服务',
        answer: '在设置里取消。',
        category: '账户',
        similar: ['不想用了', '注销'],
      },
    ]
      .map((o) => JSON.stringify(o))
      .join('\n');
    const r = await upload(admin.cookie, 'faq.jsonl', Buffer.from(lines + '\n'));
    expect(r).toMatchObject({ status: 'done', created: 2, errors: [] });
    const seam = await t.container.knowledge.matchable();
    expect(seam.entries.find((x) => x.externalId === 'jl-002')).toMatchObject({
      question: 'JSONL 取消服务',
      similar: ['不想用了', '注销'],
      category: '账户',
      enabled: true,
    });
    // An entry without an answer is kept (matching and eval use it); its answer is empty.
    expect(seam.entries.find((x) => x.externalId === 'jl-001')?.answer).toBe('');

    const dir = await mkdtemp(path.join(tmpdir(), 'parley-kb-'));
    const out = path.join(dir, 'kb.jsonl');
    const log = console.error;
    console.error = () => undefined;
    try {
      expect(await kbExport(t.config, { format: 'jsonl', out })).toBe(0);
    } finally {
      console.error = log;
    }
    const text = await readFile(out, 'utf8');
    const exported = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(exported).toContainEqual({
      id: 'jl-002',
      question: 'JSONL 取消服务',
      answer: '在设置里取消。',
      category: '账户',
      similar: ['不想用了', '注销'],
    });
    // Renaming a question in the file keeps the entry (matched by id).
    const renamed = text.replace('JSONL 取消服务', 'JSONL 怎么取消服务');
    await writeFile(out, renamed);
    const logged: string[] = [];
    const print = console.log;
    console.log = (m: string) => void logged.push(m);
    try {
      expect(await kbImport(t.config, out, { dryRun: false, json: true })).toBe(0);
    } finally {
      console.log = print;
    }
    expect(JSON.parse(logged[0]!)).toMatchObject({ created: 0, updated: 1, problems: [] });
    const now = await t.container.knowledge.matchable();
    expect(now.entries.find((x) => x.externalId === 'jl-002')?.question).toBe('JSONL 怎么取消服务');
  });

  it('refuses bad files naming the row and field, saving nothing (all-or-nothing)', async () => {
    const admin = await signIn(t, 'admin');
    const count = async () =>
      Number(
        (
          await t.container.db
            .selectFrom('kb_entries')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const before = await count();
    const refused = async (name: string, bytes: Buffer) => {
      const r = await upload(admin.cookie, name, bytes);
      expect(r.status).toBe('done');
      expect(r.saved).toBe(false);
      expect(r.created + r.updated).toBe(0);
      expect(await count()).toBe(before);
      return r.errors;
    };

    // A missing column.
    expect(await refused('a.csv', Buffer.from('标准问题,分类\n坏行,x\n'))).toEqual([
      expect.objectContaining({ row: 1, field: 'answer' }),
    ]);
    // Duplicate standard questions in one file (folded: full-width and end punctuation).
    expect(
      await refused(
        'b.csv',
        Buffer.from(
          csv([
            ['标准问题', '答案'],
            ['坏 重复', 'a'],
            ['ok 行', 'b'],
            ['坏 重复？', 'c'],
          ]),
        ),
      ),
    ).toEqual([
      expect.objectContaining({ row: 4, field: 'question', message: expect.stringContaining('row 2') }),
    ]);
    // An answer over the size limit, among good rows: none of them is saved.
    const long = await refused(
      'c.xlsx',
      await xlsx([
        ['标准问题', '答案'],
        ['坏 好行一', 'a'],
        ['坏 太长', '字'.repeat(5001)],
        ['坏 好行二', 'b'],
      ]),
    );
    expect(long).toEqual([expect.objectContaining({ row: 3, field: 'answer' })]);
    // Neither UTF-8 nor GBK.
    expect(
      await refused('d.csv', Buffer.from([0x71, 0x2c, 0x61, 0x0a, 0xff, 0xff, 0xff, 0x2c, 0x80, 0x0a])),
    ).toEqual([expect.objectContaining({ row: 0, field: 'encoding' })]);
    // JSON Lines: a broken line and a row without a question.
    expect(
      await refused('e.jsonl', Buffer.from('{"id":"x1","question":"坏 一"}\n{oops\n{"id":"x2"}\n')),
    ).toEqual([
      expect.objectContaining({ row: 2, field: 'line' }),
      expect.objectContaining({ row: 3, field: 'question' }),
    ]);
    // Not a workbook at all.
    expect(await refused('f.xlsx', Buffer.from('PK not really'))).toEqual([
      expect.objectContaining({ field: 'file' }),
    ]);
    // Empty similar questions are skipped, but an empty answer cell in XLSX/CSV is refused.
    expect(
      await refused(
        'g.csv',
        Buffer.from(
          csv([
            ['标准问题', '相似问题', '答案'],
            ['坏 没答案', 'a||b', ''],
          ]),
        ),
      ),
    ).toEqual([expect.objectContaining({ row: 2, field: 'answer' })]);
  });

  it('reports progress through a large file (every 200 rows) and in the report row', async () => {
    const admin = await signIn(t, 'admin');
    const lines = Array.from({ length: 1000 }, (_, i) =>
      JSON.stringify({ id: `big-${i}`, question: `大文件问题 ${i}`, answer: `答案 ${i}` }),
    ).join('\n');
    const seen: number[] = [];
    const result = await t.container.knowledgeImport.runNow(
      { id: admin.userId, name: admin.username, ip: null, userAgent: null },
      { format: 'jsonl', fileName: 'big.jsonl', bytes: Buffer.from(lines), dryRun: false },
      (done) => void seen.push(done),
    );
    expect(result).toMatchObject({ total: 1000, created: 1000, saved: true });
    expect(seen).toEqual([200, 400, 600, 800, 1000]);
    const report = await upload(admin.cookie, 'big.jsonl', Buffer.from(lines), true);
    expect(report).toMatchObject({ total: 1000, processed: 1000, created: 0, updated: 0, errors: [] });
  });

  it('lets only the knowledge admin import and export', async () => {
    const agent = await signIn(t, 'agent');
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/knowledge/imports?fileName=a.csv',
      headers: { cookie: agent.cookie, origin: ORIGIN, 'content-type': 'application/octet-stream' },
      payload: Buffer.from('question,answer\nq,a\n'),
    });
    expect(res.statusCode).toBe(403);
    const exp = await t.app.inject({
      method: 'GET',
      url: '/api/v1/knowledge/export?format=csv',
      headers: { cookie: agent.cookie },
    });
    expect(exp.statusCode).toBe(403);
    const admin = await signIn(t, 'admin');
    const unknown = await t.app.inject({
      method: 'POST',
      url: '/api/v1/knowledge/imports?fileName=a.docx',
      headers: { cookie: admin.cookie, origin: ORIGIN, 'content-type': 'application/octet-stream' },
      payload: Buffer.from('x'),
    });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().error.field).toBe('format');
  });
});
