// Business hours against real PostgreSQL: calendars (CRUD, bad input naming the field with nothing
// saved, audit), the shipped PRC schedule applied by year, .ics export and import, team links,
// the arithmetic on a team's stored calendar, and the widget's off-hours leave-a-message path.
import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { addBusinessTime, isOpen } from '../../src/modules/business-hours/calendar-math.ts';
import { actorOf, createTestApp, httpClient, signIn } from '../support/app.ts';

const t = await createTestApp();
const http = httpClient(t);
let admin: Awaited<ReturnType<typeof signIn>>;
let supervisor: string;
const BASE = '/api/v1/business-hours';

beforeAll(async () => {
  admin = await signIn(t, 'admin');
  supervisor = (await signIn(t, 'supervisor')).cookie;
});

async function auditCount(action: string, targetId: string) {
  const rows = await t.container.db
    .selectFrom('audit_log')
    .select('seq')
    .where('action', '=', action)
    .where('target_id', '=', targetId)
    .execute();
  return rows.length;
}

async function calendarCount() {
  return (await http('GET', `${BASE}/calendars`, { cookie: admin.cookie })).json().calendars.length as number;
}

async function createCalendar(body: object) {
  const res = await http('POST', `${BASE}/calendars`, { cookie: admin.cookie, body });
  expect(res.statusCode, res.body).toBe(201);
  return res.json<{ id: string; [k: string]: unknown }>();
}

async function createTeam(name: string) {
  const res = await http('POST', '/api/v1/teams', { cookie: admin.cookie, body: { name } });
  expect(res.statusCode).toBe(201);
  return res.json().id as string;
}

describe('calendars', () => {
  it('admins create a calendar (Mon–Fri 09:00–18:00 in Asia/Shanghai by default), audited', async () => {
    const cal = await createCalendar({ name: '总部客服' });
    expect(cal.timeZone).toBe('Asia/Shanghai');
    expect(cal.weekly).toMatchObject({ mon: [{ start: '09:00', end: '18:00' }], sat: [], sun: [] });
    expect(await auditCount('business_calendar.create', cal.id)).toBe(1);
    const dup = await http('POST', `${BASE}/calendars`, { cookie: admin.cookie, body: { name: '总部客服' } });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error.field).toBe('name');
  });

  it('refuses an unknown zone, overlapping or inverted hours, a make-up day on a holiday: 400 naming the field, nothing saved', async () => {
    const before = await calendarCount();
    const week = { mon: [], tue: [], wed: [], thu: [], fri: [], sat: [], sun: [] };
    const cases: Array<[object, string]> = [
      [{ name: 'a', timeZone: 'Asia/Beijing' }, 'timeZone'],
      [
        {
          name: 'b',
          weekly: {
            ...week,
            wed: [
              { start: '09:00', end: '12:00' },
              { start: '11:30', end: '18:00' },
            ],
          },
        },
        'weekly.wed[1]',
      ],
      [{ name: 'c', weekly: { ...week, tue: [{ start: '18:00', end: '09:00' }] } }, 'weekly.tue[0].end'],
      [
        {
          name: 'd',
          holidays: [{ name: '国庆节', from: '2026-10-01', to: '2026-10-07' }],
          workdays: [{ name: '补班', date: '2026-10-03' }],
        },
        'workdays[0].date',
      ],
      [{ name: 'e', holidays: [{ name: 'x', from: '2026-02-30', to: '2026-03-01' }] }, 'holidays[0].from'],
    ];
    for (const [body, field] of cases) {
      const res = await http('POST', `${BASE}/calendars`, { cookie: admin.cookie, body });
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error.field).toBe(field);
    }
    // The schema's own checks name the field too.
    const badTime = await http('POST', `${BASE}/calendars`, {
      cookie: admin.cookie,
      body: { name: 'f', weekly: { ...week, mon: [{ start: '9:00', end: '18:00' }] } },
    });
    expect(badTime.statusCode).toBe(400);
    expect(badTime.json().error.message).toContain('weekly');
    expect(await calendarCount()).toBe(before);

    // An update with a bad interval changes nothing either.
    const cal = await createCalendar({ name: '不变' });
    const res = await http('PATCH', `${BASE}/calendars/${cal.id}`, {
      cookie: admin.cookie,
      body: { name: '改名', weekly: { ...week, fri: [{ start: '10:00', end: '10:00' }] } },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.field).toBe('weekly.fri[0].end');
    const after = (await http('GET', `${BASE}/calendars/${cal.id}`, { cookie: admin.cookie })).json();
    expect(after.name).toBe('不变');
    expect(await auditCount('business_calendar.update', cal.id)).toBe(0);
  });

  it('applies a year of the shipped PRC schedule, idempotently, keeping typed entries; a missing year is a 400', async () => {
    const info = (await http('GET', `${BASE}/holiday-data`, { cookie: admin.cookie })).json();
    expect(info.years).toEqual(expect.arrayContaining([2025, 2026]));
    expect(info.about).toContain('State Council');
    expect(info.nextYearMissing).toBe(!info.years.includes(info.nextYear));

    const cal = await createCalendar({
      name: 'PRC',
      holidays: [{ name: '公司年会', from: '2026-12-31', to: '2026-12-31' }],
    });
    const applied = await http('POST', `${BASE}/calendars/${cal.id}/prc-years/2026`, {
      cookie: admin.cookie,
    });
    expect(applied.statusCode, applied.body).toBe(200);
    const c = applied.json();
    expect(c.holidays).toHaveLength(8);
    expect(c.holidays).toContainEqual({
      name: '国庆节',
      from: '2026-10-01',
      to: '2026-10-07',
      source: 'prc',
    });
    expect(c.holidays).toContainEqual({
      name: '公司年会',
      from: '2026-12-31',
      to: '2026-12-31',
      source: 'manual',
    });
    expect(c.workdays).toContainEqual({ name: '调休上班', date: '2026-10-10', hours: null, source: 'prc' });
    expect(c.workdays).toHaveLength(6);
    expect(c.years).toEqual([2026]);
    expect(c.missingNextYear).toBe(new Date().getUTCFullYear() + 1 !== 2026);
    const again = (
      await http('POST', `${BASE}/calendars/${cal.id}/prc-years/2026`, { cookie: admin.cookie })
    ).json();
    expect(again.holidays).toEqual(c.holidays);
    expect(again.workdays).toEqual(c.workdays);
    expect(await auditCount('business_calendar.apply_prc_year', cal.id)).toBe(2);

    const missing = await http('POST', `${BASE}/calendars/${cal.id}/prc-years/2031`, {
      cookie: admin.cookie,
    });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error.field).toBe('year');
  });

  it('exports holidays and make-up days as iCalendar and imports them back; a non-iCalendar file saves nothing', async () => {
    const source = await createCalendar({ name: 'ICS 源' });
    await http('POST', `${BASE}/calendars/${source.id}/prc-years/2026`, { cookie: admin.cookie });
    await http('PATCH', `${BASE}/calendars/${source.id}`, {
      cookie: admin.cookie,
      body: {
        workdays: [
          { name: '调休上班', date: '2026-10-10', hours: [{ start: '10:00', end: '16:00' }] },
          { name: '调休上班', date: '2026-09-20' },
        ],
      },
    });
    const exported = await http('GET', `${BASE}/calendars/${source.id}/ics`, { cookie: supervisor });
    expect(exported.statusCode).toBe(200);
    expect(exported.headers['content-type']).toContain('text/calendar');
    const ics = exported.body;
    expect(ics).toMatch(/^BEGIN:VCALENDAR\r\n/);
    expect(ics).toContain('DTSTART;VALUE=DATE:20261001');
    expect(ics).toContain('DTEND;VALUE=DATE:20261008'); // exclusive end
    expect(ics).toContain('X-PARLEY-HOURS:10:00-16:00');

    const target = await createCalendar({ name: 'ICS 目标' });
    const bad = await http('POST', `${BASE}/calendars/${target.id}/ics`, {
      cookie: admin.cookie,
      body: { ics: 'name,date\n国庆节,2026-10-01\n' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.field).toBe('ics');
    const vcard = await http('POST', `${BASE}/calendars/${target.id}/ics`, {
      cookie: admin.cookie,
      body: { ics: 'BEGIN:VCARD\r\nVERSION:4.0\r\nFN:x\r\nEND:VCARD\r\n' },
    });
    expect(vcard.statusCode).toBe(400);
    expect(await auditCount('business_calendar.import_ics', target.id)).toBe(0);

    const imported = await http('POST', `${BASE}/calendars/${target.id}/ics`, {
      cookie: admin.cookie,
      body: { ics },
    });
    expect(imported.statusCode, imported.body).toBe(200);
    const r = imported.json();
    const src = (await http('GET', `${BASE}/calendars/${source.id}`, { cookie: admin.cookie })).json();
    const strip = (xs: Array<Record<string, unknown>>) => xs.map(({ source: _s, ...rest }) => rest);
    expect(strip(r.calendar.holidays)).toEqual(strip(src.holidays));
    expect(strip(r.calendar.workdays)).toEqual(strip(src.workdays));
    expect(r.holidaysAdded).toBe(7);
    // Importing the same file again adds nothing (every day is taken).
    const twice = (
      await http('POST', `${BASE}/calendars/${target.id}/ics`, { cookie: admin.cookie, body: { ics } })
    ).json();
    expect(twice.holidaysAdded + twice.workdaysAdded).toBe(0);
    expect(twice.skipped).toBe(9);

    // A feed from elsewhere: no Parley properties; "补班" in the summary marks a make-up day.
    const foreign = [
      'BEGIN:VCALENDAR',
      'VERSION:2.0',
      'PRODID:-//Example//CN holidays//ZH',
      'BEGIN:VEVENT',
      'UID:a@example',
      'DTSTAMP:20251104T000000Z',
      'DTSTART;VALUE=DATE:20270101',
      'DTEND;VALUE=DATE:20270104',
      'SUMMARY:元旦 休',
      'END:VEVENT',
      'BEGIN:VEVENT',
      'UID:b@example',
      'DTSTAMP:20251104T000000Z',
      'DTSTART;VALUE=DATE:20270104',
      'SUMMARY:元旦 补班',
      'END:VEVENT',
      'END:VCALENDAR',
      '',
    ].join('\r\n');
    const other = await createCalendar({ name: 'ICS 外部' });
    const fr = (
      await http('POST', `${BASE}/calendars/${other.id}/ics`, {
        cookie: admin.cookie,
        body: { ics: foreign },
      })
    ).json();
    expect(fr.calendar.holidays).toEqual([
      { name: '元旦 休', from: '2027-01-01', to: '2027-01-03', source: 'ics' },
    ]);
    expect(fr.calendar.workdays).toEqual([
      { name: '元旦 补班', date: '2027-01-04', hours: null, source: 'ics' },
    ]);
  });

  it('links teams; a calendar in use cannot be deleted; the arithmetic runs on the stored calendar', async () => {
    const teamId = await createTeam('售后');
    const cal = await createCalendar({ name: '售后日历' });
    await http('POST', `${BASE}/calendars/${cal.id}/prc-years/2026`, { cookie: admin.cookie });
    expect(await t.container.businessHours.calendarOfTeam(teamId)).toBeNull(); // no calendar: always open
    const link = await http('PUT', `${BASE}/teams/${teamId}`, {
      cookie: admin.cookie,
      body: { calendarId: cal.id },
    });
    expect(link.statusCode).toBe(200);
    expect(await auditCount('team.calendar_set', teamId)).toBe(1);
    const unknownTeam = await http('PUT', `${BASE}/teams/${randomUUID()}`, {
      cookie: admin.cookie,
      body: { calendarId: cal.id },
    });
    expect(unknownTeam.statusCode).toBe(404);

    const del = await http('DELETE', `${BASE}/calendars/${cal.id}`, { cookie: admin.cookie });
    expect(del.statusCode).toBe(409);
    expect(del.json().error.details.teamIds).toEqual([teamId]);

    const compiled = (await t.container.businessHours.calendarOfTeam(teamId))!;
    const due = addBusinessTime(compiled, Date.parse('2026-09-30T17:00:00+08:00'), 2 * 3_600_000);
    expect(new Date(due!).toISOString()).toBe('2026-10-08T02:00:00.000Z'); // 10:00 in Shanghai
    expect(isOpen(compiled, Date.parse('2026-10-10T10:00:00+08:00'))).toBe(true);

    // Supervisors read, never change.
    expect((await http('GET', `${BASE}/teams`, { cookie: supervisor })).json().teams).toContainEqual({
      teamId,
      calendarId: cal.id,
    });
    expect(
      (await http('PATCH', `${BASE}/calendars/${cal.id}`, { cookie: supervisor, body: { name: 'x' } }))
        .statusCode,
    ).toBe(403);

    await http('PUT', `${BASE}/teams/${teamId}`, { cookie: admin.cookie, body: { calendarId: null } });
    expect(await t.container.businessHours.calendarOfTeam(teamId)).toBeNull();
    expect((await http('DELETE', `${BASE}/calendars/${cal.id}`, { cookie: admin.cookie })).statusCode).toBe(
      204,
    );
    expect(await auditCount('business_calendar.delete', cal.id)).toBe(1);
  });
});

describe('off hours in the widget', () => {
  it('tells the visitor when the team opens; the left message is a conversation in the team queue they can come back to', async () => {
    const teamId = await createTeam('夜间留言');
    // Closed every week; one working day about a year ahead: closed now, whatever the test's date.
    const openDay = new Date(Date.now() + 400 * 86_400_000).toISOString().slice(0, 10);
    const opensAt = new Date(`${openDay}T09:00:00+08:00`).toISOString();
    const cal = await createCalendar({
      name: '留言日历',
      weekly: { mon: [], tue: [], wed: [], thu: [], fri: [], sat: [], sun: [] },
      workdays: [{ name: '开门', date: openDay, hours: [{ start: '09:00', end: '18:00' }] }],
    });
    await http('PUT', `${BASE}/teams/${teamId}`, { cookie: admin.cookie, body: { calendarId: cal.id } });
    const channel = await t.container.db
      .selectFrom('channels')
      .select('id')
      .where('type', '=', 'web_widget')
      .executeTakeFirstOrThrow();
    await t.container.db
      .updateTable('channels')
      .set({ default_team_id: teamId })
      .where('id', '=', channel.id)
      .execute();

    const token = (await http('POST', '/api/v1/widget/session', { body: {} })).json().token as string;
    const hours = await http('GET', `/api/v1/widget/hours?site=${channel.id}`);
    expect(hours.json()).toEqual({ open: false, nextOpening: opensAt, timeZone: 'Asia/Shanghai' });

    const leave = (body: object) => http('POST', '/api/v1/widget/leave-message', { token, body });
    const base = { name: '李雷', question: '我的发票还没开', consent: true, clientId: randomUUID() };
    for (const [body, field] of [
      [base, 'phone'],
      [{ ...base, email: 'not-an-email' }, 'email'],
      [{ ...base, phone: '138-abc' }, 'phone'],
      [{ ...base, phone: '13800138000', consent: false }, 'consent'],
      [{ ...base, phone: '13800138000', question: '   ' }, 'question'],
    ] as Array<[object, string]>) {
      const res = await leave(body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error.field).toBe(field);
    }
    expect((await http('GET', '/api/v1/widget/conversations', { token })).json().conversations).toEqual([]);

    const ok = await leave({ ...base, phone: '13800138000', email: 'lilei@example.com' });
    expect(ok.statusCode, ok.body).toBe(200);
    const { conversationId, nextOpening } = ok.json();
    expect(nextOpening).toBe(opensAt);
    // The same clientId again (a retry) stores the message once.
    expect((await leave({ ...base, phone: '13800138000' })).json().conversationId).toBe(conversationId);

    const conv = (
      await http('GET', `/api/v1/conversations/${conversationId}`, { cookie: admin.cookie })
    ).json();
    expect(conv.teamId ?? conv.team?.id).toBe(teamId);
    const messages = (
      await http('GET', `/api/v1/widget/conversations/${conversationId}/messages`, { token })
    ).json().messages as Array<{ text: string; senderType: string }>;
    expect(messages.filter((m) => m.senderType === 'visitor').map((m) => m.text)).toEqual(['我的发票还没开']);

    // The contact's details, unmasked by an admin (the session's contact is the visitor's).
    const session = (await http('POST', '/api/v1/widget/session', { body: { token } })).json();
    const contact = await t.container.contacts.revealContact(actorOf(admin), session.contactId as string);
    expect(contact).toMatchObject({ name: '李雷', phone: '13800138000', email: 'lilei@example.com' });

    // Coming back later: the same conversation, with a second message.
    const again = await leave({ ...base, phone: '13800138000', clientId: randomUUID(), question: '还在吗' });
    expect(again.json().conversationId).toBe(conversationId);
    expect((await http('GET', '/api/v1/widget/conversations', { token })).json().conversations).toHaveLength(
      1,
    );

    // No calendar: always open.
    await http('PUT', `${BASE}/teams/${teamId}`, { cookie: admin.cookie, body: { calendarId: null } });
    expect((await http('GET', `/api/v1/widget/hours?site=${channel.id}`)).json()).toMatchObject({
      open: true,
      nextOpening: null,
    });
    await t.container.db
      .updateTable('channels')
      .set({ default_team_id: null })
      .where('id', '=', channel.id)
      .execute();
  });
});
