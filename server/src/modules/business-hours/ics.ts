// iCalendar (RFC 5545) export and import of a calendar's holidays and make-up working days, with
// ical.js (Mozilla's parser and serializer, the one Thunderbird uses; no dependencies). Each entry
// is one all-day VEVENT: DTSTART;VALUE=DATE, DTEND exclusive. Parley marks the kind with
// X-PARLEY-KIND (holiday | workday) and CATEGORIES (HOLIDAY | WORKDAY), and a make-up day's stated
// hours with X-PARLEY-HOURS ("09:00-12:00,13:00-18:00"). Files from elsewhere (public Chinese
// holiday feeds) have neither: an event whose categories say WORKDAY or whose summary says 补班 /
// 上班 / "working day" is a make-up day, every other one a holiday. Weekly opening hours are not
// part of the file. A recurring event is taken for its first occurrence only.
import ICAL from 'ical.js';
import { BadRequestError } from '../../platform/errors.ts';
import { dateOfDayNumber, dayNumberOf, type HoursInterval } from './calendar-math.ts';

export interface IcsHoliday {
  name: string;
  from: string;
  to: string;
}
export interface IcsWorkday {
  name: string;
  date: string;
  hours: HoursInterval[] | null;
}

function icsDate(date: string) {
  return ICAL.Time.fromDateString(date);
}

function plusDays(date: string, n: number): string {
  return dateOfDayNumber(dayNumberOf(date)! + n);
}

export function exportIcs(cal: {
  id: string;
  name: string;
  timeZone: string;
  updatedAt: string;
  holidays: IcsHoliday[];
  workdays: IcsWorkday[];
}): string {
  const root = new ICAL.Component(['vcalendar', [], []]);
  root.updatePropertyWithValue('prodid', '-//Parley//Business hours//EN');
  root.updatePropertyWithValue('version', '2.0');
  root.updatePropertyWithValue('calscale', 'GREGORIAN');
  root.updatePropertyWithValue('x-wr-calname', cal.name);
  root.updatePropertyWithValue('x-wr-timezone', cal.timeZone);
  const stamp = ICAL.Time.fromJSDate(new Date(cal.updatedAt), true);
  const add = (kind: 'holiday' | 'workday', name: string, from: string, to: string, hours: string | null) => {
    const ev = new ICAL.Component('vevent');
    ev.updatePropertyWithValue('uid', `${kind}-${from}-${cal.id}@parley`);
    ev.updatePropertyWithValue('dtstamp', stamp);
    ev.updatePropertyWithValue('dtstart', icsDate(from));
    ev.updatePropertyWithValue('dtend', icsDate(plusDays(to, 1)));
    ev.updatePropertyWithValue('summary', name);
    ev.updatePropertyWithValue('categories', kind === 'holiday' ? 'HOLIDAY' : 'WORKDAY');
    ev.updatePropertyWithValue('transp', 'TRANSPARENT');
    ev.updatePropertyWithValue('x-parley-kind', kind);
    if (hours !== null) ev.updatePropertyWithValue('x-parley-hours', hours);
    root.addSubcomponent(ev);
  };
  for (const h of cal.holidays) add('holiday', h.name, h.from, h.to, null);
  for (const w of cal.workdays) {
    add(
      'workday',
      w.name,
      w.date,
      w.date,
      w.hours === null ? null : w.hours.map((i) => `${i.start}-${i.end}`).join(','),
    );
  }
  return root.toString() + '\r\n';
}

const WORKDAY_WORDS = /补班|上班|调休上班|working day|workday/i;

function notIcs(message: string): never {
  throw new BadRequestError(`ics: ${message}`, 'ics');
}

function parseHours(value: string, index: number): HoursInterval[] {
  const out: HoursInterval[] = [];
  for (const part of value.split(',')) {
    const m = /^\s*(\d{2}:\d{2})\s*-\s*(\d{2}:\d{2})\s*$/.exec(part);
    if (!m) notIcs(`event ${index + 1}: X-PARLEY-HOURS "${value}" is not HH:MM-HH:MM[,HH:MM-HH:MM]`);
    out.push({ start: m[1]!, end: m[2]! });
  }
  return out;
}

/** Parses an .ics text; anything that is not an iCalendar file with dated events is a 400 on `ics`. */
export function importIcs(text: string): { holidays: IcsHoliday[]; workdays: IcsWorkday[] } {
  let jcal: unknown;
  try {
    jcal = ICAL.parse(text.trim());
  } catch (e) {
    notIcs(`not an iCalendar file (${e instanceof Error ? e.message : String(e)})`);
  }
  // A file may hold several components; the first must be a VCALENDAR.
  const list = Array.isArray(jcal) ? (jcal as unknown[]) : null;
  const first: unknown = list && typeof list[0] === 'string' ? list : list ? list[0] : null;
  if (!Array.isArray(first) || first[0] !== 'vcalendar') notIcs('not an iCalendar file (no BEGIN:VCALENDAR)');
  const root = new ICAL.Component(first as unknown[]);
  const holidays: IcsHoliday[] = [];
  const workdays: IcsWorkday[] = [];
  root.getAllSubcomponents('vevent').forEach((ev, i) => {
    const event = new ICAL.Event(ev);
    const start = event.startDate;
    if (!start) notIcs(`event ${i + 1}: no DTSTART`);
    const from = start.toString().slice(0, 10);
    const end = event.endDate;
    let to = from;
    if (end && end.compare(start) > 0) {
      const endDate = end.toString().slice(0, 10);
      // An all-day DTEND is exclusive; a timed end on the next day's midnight is too.
      const exclusive = end.isDate || (end.hour === 0 && end.minute === 0 && end.second === 0);
      to = exclusive ? plusDays(endDate, -1) : endDate;
      if (to < from) to = from;
    }
    if (dayNumberOf(from) === null) notIcs(`event ${i + 1}: DTSTART ${from} is not a date`);
    const name = String(event.summary ?? '')
      .trim()
      .slice(0, 80);
    const kindProp = ev.getFirstPropertyValue('x-parley-kind');
    const categories = ev
      .getAllProperties('categories')
      .flatMap((p) => p.getValues().map(String))
      .join(',');
    const kind =
      kindProp === 'workday' || kindProp === 'holiday'
        ? kindProp
        : /workday/i.test(categories) || WORKDAY_WORDS.test(name)
          ? 'workday'
          : 'holiday';
    if (kind === 'holiday') {
      holidays.push({ name, from, to });
    } else {
      const hoursProp = ev.getFirstPropertyValue('x-parley-hours');
      const hours = typeof hoursProp === 'string' && hoursProp !== '' ? parseHours(hoursProp, i) : null;
      for (let d = dayNumberOf(from)!; d <= dayNumberOf(to)!; d++) {
        workdays.push({ name, date: dateOfDayNumber(d), hours });
      }
    }
  });
  return { holidays, workdays };
}
