import { describe, expect, it } from 'vitest';
import {
  addBusinessTime,
  businessTimeBetween,
  compileCalendar,
  isOpen,
  nextOpening,
  validateCalendarSpec,
  type CalendarSpec,
  type WeeklyHours,
} from '../../src/modules/business-hours/calendar-math.ts';
import { prcYearEntries, loadHolidayData } from '../../src/modules/business-hours/holiday-data.ts';

const H = 3_600_000;
const nineToSix = [{ start: '09:00', end: '18:00' }];
const officeWeek: WeeklyHours = {
  sun: [],
  mon: nineToSix,
  tue: nineToSix,
  wed: nineToSix,
  thu: nineToSix,
  fri: nineToSix,
  sat: [],
};

const prc2026 = prcYearEntries(loadHolidayData(), 2026)!;
const shanghai = compileCalendar({
  timeZone: 'Asia/Shanghai',
  weekly: officeWeek,
  holidays: prc2026.holidays,
  workdays: prc2026.workdays,
});
/** An instant given as Shanghai wall time. */
const cst = (s: string) => Date.parse(`${s}+08:00`);
const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

describe('business hours in Asia/Shanghai with the 2026 PRC schedule', () => {
  it('is open on working hours of a weekday, closed at night, at weekends and on holidays', () => {
    expect(isOpen(shanghai, cst('2026-12-07T09:00:00'))).toBe(true); // Monday, opening instant
    expect(isOpen(shanghai, cst('2026-12-07T17:59:59'))).toBe(true);
    expect(isOpen(shanghai, cst('2026-12-07T18:00:00'))).toBe(false); // half-open: closes at 18:00
    expect(isOpen(shanghai, cst('2026-12-07T08:59:59'))).toBe(false);
    expect(isOpen(shanghai, cst('2026-12-05T12:00:00'))).toBe(false); // Saturday
    expect(isOpen(shanghai, cst('2026-10-05T12:00:00'))).toBe(false); // National Day (a Monday)
    expect(isOpen(shanghai, cst('2026-10-10T12:00:00'))).toBe(true); // make-up working Saturday
    expect(isOpen(shanghai, cst('2026-10-17T12:00:00'))).toBe(false); // an ordinary Saturday
  });

  it('next opening: now when open; Monday 09:00 across a weekend; after National Day', () => {
    expect(iso(nextOpening(shanghai, cst('2026-12-07T10:30:00')))).toBe(iso(cst('2026-12-07T10:30:00')));
    expect(iso(nextOpening(shanghai, cst('2026-12-04T18:00:00')))).toBe(iso(cst('2026-12-07T09:00:00')));
    expect(iso(nextOpening(shanghai, cst('2026-09-30T19:00:00')))).toBe(iso(cst('2026-10-08T09:00:00')));
    // Friday evening before the make-up Saturday: the Saturday opens.
    expect(iso(nextOpening(shanghai, cst('2026-10-09T20:00:00')))).toBe(iso(cst('2026-10-10T09:00:00')));
  });

  it('adds business time across a weekend, a public holiday and a make-up Saturday', () => {
    // Friday 17:00 + 2 h: one hour on Friday, one on Monday.
    expect(iso(addBusinessTime(shanghai, cst('2026-12-04T17:00:00'), 2 * H))).toBe(
      iso(cst('2026-12-07T10:00:00')),
    );
    // The day before National Day, 17:00 + 2 h: the holiday week (1–7 Oct) is skipped.
    expect(iso(addBusinessTime(shanghai, cst('2026-09-30T17:00:00'), 2 * H))).toBe(
      iso(cst('2026-10-08T10:00:00')),
    );
    // Friday 9 Oct 17:00 + 2 h: Saturday 10 Oct is a working day.
    expect(iso(addBusinessTime(shanghai, cst('2026-10-09T17:00:00'), 2 * H))).toBe(
      iso(cst('2026-10-10T10:00:00')),
    );
    // A 24-business-hour SLA from a Wednesday noon before the holiday: 6 h + 9 h (8 Oct) + 9 h (9 Oct).
    expect(iso(addBusinessTime(shanghai, cst('2026-09-30T12:00:00'), 24 * H))).toBe(
      iso(cst('2026-10-09T18:00:00')),
    );
    // Starting while closed counts from the next opening.
    expect(iso(addBusinessTime(shanghai, cst('2026-12-05T11:00:00'), 30 * 60_000))).toBe(
      iso(cst('2026-12-07T09:30:00')),
    );
    // Exactly the rest of the day ends at closing time, not at the next opening.
    expect(iso(addBusinessTime(shanghai, cst('2026-12-07T17:00:00'), H))).toBe(
      iso(cst('2026-12-07T18:00:00')),
    );
    expect(addBusinessTime(shanghai, cst('2026-12-05T11:00:00'), 0)).toBe(cst('2026-12-05T11:00:00'));
  });

  it('measures business time between two instants', () => {
    expect(businessTimeBetween(shanghai, cst('2026-12-04T17:00:00'), cst('2026-12-07T10:00:00'))).toBe(2 * H);
    // Friday 9 Oct 17:00 → Monday 12 Oct 10:00: 1 h + 9 h (make-up Saturday) + 1 h.
    expect(businessTimeBetween(shanghai, cst('2026-10-09T17:00:00'), cst('2026-10-12T10:00:00'))).toBe(
      11 * H,
    );
    // The whole National Day week is closed.
    expect(businessTimeBetween(shanghai, cst('2026-10-01T00:00:00'), cst('2026-10-08T00:00:00'))).toBe(0);
    expect(businessTimeBetween(shanghai, cst('2026-12-07T10:00:00'), cst('2026-12-04T17:00:00'))).toBe(
      -2 * H,
    );
    // A year: 2026 has 248 working days in China (365 − 104 weekend days − 19 holiday weekdays + 6 make-up days).
    expect(businessTimeBetween(shanghai, cst('2026-01-01T00:00:00'), cst('2027-01-01T00:00:00'))).toBe(
      248 * 9 * H,
    );
  });

  it('addBusinessTime and businessTimeBetween agree on random inputs', () => {
    let seed = 20261207;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const base = cst('2026-01-01T00:00:00');
    for (let i = 0; i < 500; i++) {
      const start = base + Math.floor(rand() * 360 * 24) * 60_000 * 60 + Math.floor(rand() * 60) * 60_000;
      const duration = Math.floor(rand() * 200 * H);
      const due = addBusinessTime(shanghai, start, duration)!;
      expect(businessTimeBetween(shanghai, start, due)).toBe(duration);
      if (duration > 0) expect(isOpen(shanghai, due - 1)).toBe(true);
    }
  });

  it('a make-up day without stated hours has the normal weekday hours; stated hours win', () => {
    const cal = compileCalendar({
      timeZone: 'Asia/Shanghai',
      weekly: {
        ...officeWeek,
        mon: [
          { start: '08:30', end: '12:00' },
          { start: '13:00', end: '17:30' },
        ],
      },
      holidays: [],
      workdays: [
        { name: '补班', date: '2026-10-10', hours: null },
        { name: '半天', date: '2026-10-11', hours: [{ start: '10:00', end: '12:00' }] },
      ],
    });
    expect(businessTimeBetween(cal, cst('2026-10-10T00:00:00'), cst('2026-10-11T00:00:00'))).toBe(8 * H);
    expect(isOpen(cal, cst('2026-10-10T12:30:00'))).toBe(false); // Monday's lunch break too
    expect(businessTimeBetween(cal, cst('2026-10-11T00:00:00'), cst('2026-10-12T00:00:00'))).toBe(2 * H);
  });

  it('a calendar without any hours never opens', () => {
    const never = compileCalendar({
      timeZone: 'Asia/Shanghai',
      weekly: { sun: [], mon: [], tue: [], wed: [], thu: [], fri: [], sat: [] },
      holidays: [],
      workdays: [],
    });
    expect(nextOpening(never, cst('2026-12-07T10:00:00'))).toBeNull();
    expect(addBusinessTime(never, cst('2026-12-07T10:00:00'), H)).toBeNull();
  });
});

describe('business hours in Europe/Berlin across daylight-saving changes', () => {
  const allDay = [{ start: '00:00', end: '24:00' }];
  const always = compileCalendar({
    timeZone: 'Europe/Berlin',
    weekly: { sun: allDay, mon: allDay, tue: allDay, wed: allDay, thu: allDay, fri: allDay, sat: allDay },
    holidays: [],
    workdays: [],
  });
  const office = compileCalendar({
    timeZone: 'Europe/Berlin',
    weekly: officeWeek,
    holidays: [],
    workdays: [],
  });

  it('a local day lasts 23 h in spring and 25 h in autumn', () => {
    // 2026: summer time starts Sunday 29 March, ends Sunday 25 October.
    const dayLength = (date: string) => {
      const d = always.localDay(Date.parse(`${date}T12:00:00Z`));
      return always.intervalsOfDay(d).reduce((sum, [s, e]) => sum + (e - s), 0);
    };
    expect(dayLength('2026-03-28')).toBe(24 * H);
    expect(dayLength('2026-03-29')).toBe(23 * H);
    expect(dayLength('2026-10-25')).toBe(25 * H);
    expect(
      businessTimeBetween(always, Date.parse('2026-03-28T23:00:00Z'), Date.parse('2026-03-29T22:00:00Z')),
    ).toBe(23 * H);
  });

  it('office hours follow the wall clock on both sides of a change', () => {
    // Friday 27 March 17:00 CET (16:00Z) + 2 h → Monday 30 March 10:00 CEST (08:00Z).
    expect(iso(addBusinessTime(office, Date.parse('2026-03-27T16:00:00Z'), 2 * H))).toBe(
      '2026-03-30T08:00:00.000Z',
    );
    expect(isOpen(office, Date.parse('2026-03-30T07:00:00Z'))).toBe(true); // 09:00 CEST
    expect(isOpen(office, Date.parse('2026-03-27T07:30:00Z'))).toBe(false); // 08:30 CET
    expect(iso(nextOpening(office, Date.parse('2026-10-24T12:00:00Z')))).toBe('2026-10-26T08:00:00.000Z'); // 09:00 CET
  });

  it('a wall time in the spring gap moves forward; an ambiguous one takes the earlier instant', () => {
    const spring = compileCalendar({
      timeZone: 'Europe/Berlin',
      weekly: { ...officeWeek, sun: [{ start: '01:00', end: '04:00' }] },
      holidays: [],
      workdays: [],
    });
    // 01:00 CET = 00:00Z; 04:00 CEST = 02:00Z: two real hours.
    expect(spring.intervalsOfDay(spring.localDay(Date.parse('2026-03-29T12:00:00Z')))).toEqual([
      [Date.parse('2026-03-29T00:00:00Z'), Date.parse('2026-03-29T02:00:00Z')],
    ]);
    // 01:00 CEST = 23:00Z the day before; 04:00 CET = 03:00Z: four real hours.
    expect(
      businessTimeBetween(spring, Date.parse('2026-10-24T22:00:00Z'), Date.parse('2026-10-25T12:00:00Z')),
    ).toBe(4 * H);
    const gap = compileCalendar({
      timeZone: 'Europe/Berlin',
      weekly: { ...officeWeek, sun: [{ start: '02:15', end: '02:45' }] },
      holidays: [],
      workdays: [],
    });
    // 02:15–02:45 does not exist that night: it becomes 03:15–03:45 CEST (01:15Z–01:45Z).
    expect(gap.intervalsOfDay(gap.localDay(Date.parse('2026-03-29T12:00:00Z')))).toEqual([
      [Date.parse('2026-03-29T01:15:00Z'), Date.parse('2026-03-29T01:45:00Z')],
    ]);
  });
});

describe('zones that change on a half hour', () => {
  const allDay = [{ start: '00:00', end: '24:00' }];
  const week = { sun: allDay, mon: allDay, tue: allDay, wed: allDay, thu: allDay, fri: allDay, sat: allDay };
  const length = (timeZone: string, date: string) => {
    const cal = compileCalendar({ timeZone, weekly: week, holidays: [], workdays: [] });
    return cal
      .intervalsOfDay(cal.localDay(Date.parse(`${date}T12:00:00Z`)))
      .reduce((sum, [s, e]) => sum + (e - s), 0);
  };

  it('Newfoundland (UTC−3:30) springs forward at 05:30 UTC; Lord Howe moves by half an hour', () => {
    expect(length('America/St_Johns', '2026-03-08')).toBe(23 * H);
    expect(length('America/St_Johns', '2026-03-09')).toBe(24 * H);
    expect(length('Australia/Lord_Howe', '2026-10-04')).toBe(23.5 * H);
    const stJohns = compileCalendar({
      timeZone: 'America/St_Johns',
      weekly: week,
      holidays: [],
      workdays: [],
    });
    // 05:29 UTC is 01:59 NST (still Sunday 8 March), 05:30 UTC is 03:00 NDT.
    expect(stJohns.localDay(Date.parse('2026-03-08T05:29:00Z'))).toBe(
      stJohns.localDay(Date.parse('2026-03-08T05:30:00Z')),
    );
  });
});

describe('calendar validation names the field', () => {
  const base: CalendarSpec = { timeZone: 'Asia/Shanghai', weekly: officeWeek, holidays: [], workdays: [] };
  const fields = (spec: Partial<CalendarSpec>) =>
    validateCalendarSpec({ ...base, ...spec }).map((p) => p.field);

  it('accepts a valid calendar', () => {
    expect(validateCalendarSpec(base)).toEqual([]);
    expect(fields({ timeZone: 'Europe/Berlin' })).toEqual([]);
  });

  it('refuses an unknown time zone, inverted or overlapping intervals, bad dates and conflicts', () => {
    expect(fields({ timeZone: 'Mars/Olympus_Mons' })).toEqual(['timeZone']);
    expect(fields({ weekly: { ...officeWeek, tue: [{ start: '18:00', end: '09:00' }] } })).toEqual([
      'weekly.tue[0].end',
    ]);
    expect(
      fields({
        weekly: {
          ...officeWeek,
          wed: [
            { start: '09:00', end: '12:00' },
            { start: '11:00', end: '18:00' },
          ],
        },
      }),
    ).toEqual(['weekly.wed[1]']);
    expect(fields({ weekly: { ...officeWeek, thu: [{ start: '25:00', end: '26:00' }] } })).toEqual([
      'weekly.thu[0].start',
    ]);
    expect(fields({ holidays: [{ name: 'x', from: '2026-02-30', to: '2026-03-01' }] })).toEqual([
      'holidays[0].from',
    ]);
    expect(fields({ holidays: [{ name: 'x', from: '2026-03-05', to: '2026-03-01' }] })).toEqual([
      'holidays[0].to',
    ]);
    expect(
      fields({
        holidays: [{ name: '国庆节', from: '2026-10-01', to: '2026-10-07' }],
        workdays: [{ name: '补班', date: '2026-10-03', hours: null }],
      }),
    ).toEqual(['workdays[0].date']);
  });
});
