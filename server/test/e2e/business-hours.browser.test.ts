// Business hours in real headless Chromium against a real `parley serve` and database: an admin
// creates a calendar on the console page, applies the 2026 PRC schedule, sees the missing-year
// warning, and a file that is not iCalendar is refused with nothing saved; then, with the site's
// team closed, a visitor is told when the team opens, leaves a message (which lands in the
// team's queue), and finds the same conversation after a reload. Writes
// build/screenshots/business-hours.png and widget-off-hours.png.
import pg from 'pg';
import type { Browser, BrowserContext, Frame, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, openPage, recordProblems, screenshot } from '../support/browser.ts';
import { createTestDatabase } from '../support/db.ts';
import { consoleApi, startWebServer, type ServerProcess } from '../support/server-process.ts';

const FIRST_PASSWORD = 'e2e-admin-password-0123';
const ADMIN_PASSWORD = 'admin-own-password-4567';
const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

let server: ServerProcess;
let databaseUrl: string;
let browser: Browser | undefined;
let context: BrowserContext;
let page: Page;
let cookie = '';
const problems: string[] = [];

const byTest = (id: string) => `[data-test="${id}"]`;
const poll = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 10_000, interval: 50 });
const api = consoleApi(
  () => server.base,
  () => cookie,
);

async function sql<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

interface Calendar {
  id: string;
  name: string;
  holidays: Array<{ name: string; from: string; to: string }>;
  workdays: Array<{ date: string }>;
}

beforeAll(async () => {
  const database = await createTestDatabase();
  databaseUrl = database.url;
  const launched = launchChromium();
  server = await startWebServer(database.url);
  browser = await launched;
  ({ context, page } = await openPage(browser, problems, { viewport: { width: 1280, height: 860 } }));

  await page.goto(`${server.base}/admin/business-hours`);
  await page.fill(byTest('username'), 'admin');
  await page.fill(byTest('password'), FIRST_PASSWORD);
  await page.click(byTest('login-submit'));
  await page.waitForURL(/\/password\?redirect=/);
  await page.fill(byTest('current-password'), FIRST_PASSWORD);
  await page.fill(byTest('new-password'), ADMIN_PASSWORD);
  await page.fill(byTest('repeat-password'), ADMIN_PASSWORD);
  await page.click(byTest('change-password-submit'));
  await page.waitForURL(`${server.base}/admin/business-hours`);
  const session = (await context.cookies()).find((c) => c.httpOnly);
  cookie = `${session!.name}=${session!.value}`;
  problems.length = 0; // the 401 of the page asking who is signed in before the sign-in
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe('business hours in a real browser', () => {
  it('an admin creates a calendar, applies the 2026 PRC schedule and sees the missing-year warning', async () => {
    await page.locator(byTest('business-hours-page')).waitFor();
    await page.fill(byTest('calendar-new-name'), '总部客服');
    await page.click(byTest('calendar-create'));
    await page.locator(byTest('calendar-总部客服')).waitFor();
    await page
      .locator(`${byTest('weekday-mon')} input`)
      .first()
      .waitFor();

    // The newest shipped year is preselected.
    await page.click(byTest('apply-prc'));
    await poll(() => page.locator(`${byTest('holidays')} .el-table__row`).count()).toBe(7);
    const [cal] = (await api<{ calendars: Calendar[] }>('GET', '/api/v1/business-hours/calendars')).calendars;
    expect(cal!.holidays).toContainEqual(
      expect.objectContaining({ name: '国庆节', from: '2026-10-01', to: '2026-10-07' }),
    );
    expect(cal!.workdays.map((w) => w.date)).toContain('2026-10-10');

    // Next year is missing (the shipped data ends with 2026): the warning names it.
    const nextYear = new Date().getUTCFullYear() + 1;
    if (nextYear > 2026) {
      await poll(() => page.locator(byTest('missing-year-warning')).textContent()).toContain(
        String(nextYear),
      );
    }

    // A file that is not iCalendar: refused, nothing saved.
    await page.setInputFiles(byTest('calendar-import-file'), {
      name: 'holidays.ics',
      mimeType: 'text/calendar',
      buffer: Buffer.from('name,date\n春节,2027-02-06\n'),
    });
    await poll(() => page.locator('.el-message--error').count()).toBeGreaterThan(0);
    const after = (await api<{ calendars: Calendar[] }>('GET', '/api/v1/business-hours/calendars'))
      .calendars[0]!;
    expect(after.holidays).toEqual(cal!.holidays);

    // The export link downloads iCalendar.
    const href = await page.locator(byTest('calendar-export')).getAttribute('href');
    const ics = await fetch(`${server.base}${href}`, { headers: { cookie } });
    expect(ics.headers.get('content-type')).toContain('text/calendar');
    expect(await ics.text()).toContain('DTSTART;VALUE=DATE:20261001');

    await page
      .locator('.el-message')
      .first()
      .waitFor({ state: 'detached' })
      .catch(() => undefined);
    await screenshot(page, 'business-hours.png');
    expect(problems.filter((p) => !p.includes('400'))).toEqual([]);
  });

  it('outside hours the visitor is told when the team opens, leaves a message, and comes back to it', async () => {
    const team = await api<{ id: string }>('POST', '/api/v1/teams', { name: '售后服务' });
    // Open only on the weekday three days from now (Shanghai time): closed now, opening soon.
    const opensOn = WEEKDAYS[(new Date(Date.now() + 8 * 3_600_000).getUTCDay() + 3) % 7]!;
    const weekly = Object.fromEntries(
      WEEKDAYS.map((d) => [d, d === opensOn ? [{ start: '09:00', end: '18:00' }] : []]),
    );
    const cal = await api<{ id: string }>('POST', '/api/v1/business-hours/calendars', {
      name: '售后日历',
      weekly,
    });
    await api('PUT', `/api/v1/business-hours/teams/${team.id}`, { calendarId: cal.id });
    // The website's default team (no API sets it yet; routing rules will).
    await sql("update channels set default_team_id = $1 where type = 'web_widget'", [team.id]);

    const visitor = await browser!.newContext({
      viewport: { width: 1280, height: 860 },
      locale: 'zh-CN',
      timezoneId: 'Asia/Shanghai',
    });
    const vp = await visitor.newPage();
    vp.setDefaultTimeout(10_000);
    await recordProblems(visitor, vp, problems);
    const openChat = async (): Promise<Frame> => {
      await vp.goto(`${server.base}/demo`);
      await vp.waitForFunction(() => 'Parley' in window);
      await vp.evaluate(() => (window as unknown as { Parley: { open(): void } }).Parley.open());
      await poll(() => vp.frames().some((f) => f.url().includes('/widget/frame'))).toBe(true);
      return vp.frames().find((f) => f.url().includes('/widget/frame'))!;
    };

    let frame = await openChat();
    const notice = frame.locator(byTest('off-hours-notice'));
    await notice.waitFor();
    const dayName = {
      sun: '周日',
      mon: '周一',
      tue: '周二',
      wed: '周三',
      thu: '周四',
      fri: '周五',
      sat: '周六',
    }[opensOn];
    expect(await notice.textContent()).toContain(`客服将于 ${dayName} 09:00 上线`);
    const form = frame.locator(byTest('leave-message'));
    await form.waitFor();
    expect(await frame.locator('.pw-composer').isHidden()).toBe(true);

    // Neither phone nor email: the form says so and nothing is sent.
    await form.locator('input[name="name"]').fill('韩梅梅');
    await form.locator('textarea[name="question"]').fill('耳机左边没有声音，想申请售后');
    await form.locator('input[name="consent"]').check();
    await form.locator('button[type="submit"]').click();
    await poll(() => form.locator('.pw-form-error').textContent()).toBe('请填写电话或邮箱');
    await form.locator('input[name="phone"]').fill('13800138000');
    await screenshot(vp, 'widget-off-hours.png');
    await form.locator('button[type="submit"]').click();
    await form.waitFor({ state: 'hidden' });
    await poll(() => frame.locator('.pw-bubble').allTextContents()).toEqual([
      expect.stringContaining('耳机左边没有声音，想申请售后'),
    ]);

    // The conversation waits in the team's queue, with the contact's phone saved.
    const rows = await sql<{ id: string; team_id: string }>('select id, team_id from conversations');
    expect(rows).toHaveLength(1);
    expect(rows[0]!.team_id).toBe(team.id);

    // Back later: the same conversation, the notice, no form.
    frame = await openChat();
    await frame.locator(byTest('off-hours-notice')).waitFor();
    await poll(() => frame.locator('.pw-bubble').allTextContents()).toEqual([
      expect.stringContaining('耳机左边没有声音，想申请售后'),
    ]);
    expect(await frame.locator(byTest('leave-message')).isHidden()).toBe(true);
    expect(await frame.locator('.pw-composer').isVisible()).toBe(true);
    await visitor.close();
    expect(problems.filter((p) => !p.includes('400'))).toEqual([]);
  });
});
