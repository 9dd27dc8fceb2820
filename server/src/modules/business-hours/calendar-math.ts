// Business-hours arithmetic: pure functions over a compiled calendar (no database, no clock).
// Routing asks isOpen / nextOpening (off-hours in the widget); the SLA clock of tickets (issue 17)
// asks businessTimeBetween / addBusinessTime. Semantics (docs/BUSINESS-HOURS.md):
//
// - A calendar is weekly opening intervals per weekday in an IANA time zone, minus holidays (whole
//   local days off), plus make-up working days (调休: a weekend day that is a working day, with the
//   hours stated on it, or else the calendar's "normal weekday" hours: Monday's, or the first of
//   Tuesday–Friday that has hours when Monday has none).
// - Intervals are half-open [start, end) in local wall time, end may be 24:00; a day's intervals
//   never cross midnight (write 22:00–24:00 and 00:00–06:00 on the next day).
// - Wall times that do not exist (a DST spring-forward gap) move forward by the gap (02:30 → 03:30
//   in Berlin on the last Sunday of March); ambiguous wall times (autumn fall-back) take the earlier
//   instant. So an interval 01:00–04:00 lasts 2 h of real time on the spring day and 4 h on the
//   autumn day: business time is real elapsed time while open.
// - Every instant is a UTC epoch millisecond number; durations are milliseconds.
//
// Speed: a day's open intervals (as UTC instants) are computed once per compiled calendar and kept
// in a small cache, so the functions walk days, not minutes.

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export interface HoursInterval {
  /** "HH:MM", 00:00–23:59 */
  start: string;
  /** "HH:MM", after start; 24:00 is the end of the day */
  end: string;
}

export type WeeklyHours = Record<Weekday, HoursInterval[]>;

export interface HolidayRange {
  name: string;
  /** Local date "YYYY-MM-DD", inclusive. */
  from: string;
  /** Local date "YYYY-MM-DD", inclusive, not before `from`. */
  to: string;
}

export interface MakeUpWorkday {
  name: string;
  /** Local date "YYYY-MM-DD". */
  date: string;
  /** The hours that day; null = the calendar's normal weekday hours. */
  hours: HoursInterval[] | null;
}

export interface CalendarSpec {
  timeZone: string;
  weekly: WeeklyHours;
  holidays: HolidayRange[];
  workdays: MakeUpWorkday[];
}

/** A problem with a calendar spec: the field (dotted path, as the API names it) and what is wrong. */
export interface SpecProblem {
  field: string;
  message: string;
}

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;
/** How far the search functions look ahead before deciding a calendar never opens. */
const MAX_SEARCH_DAYS = 3 * 366;

// ---------------------------------------------------------------- validation

const TIME_RE = /^([01]\d|2[0-3]):[0-5]\d$|^24:00$/;
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

export function isValidTimeZone(tz: string): boolean {
  if (typeof tz !== 'string' || tz === '') return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function minutesOf(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

/** Days since 1970-01-01 of a valid "YYYY-MM-DD", or null when it is not a real date. */
export function dayNumberOf(date: string): number | null {
  const m = DATE_RE.exec(date);
  if (!m) return null;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  const ms = Date.UTC(y, mo - 1, d);
  const back = new Date(ms);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) return null;
  return ms / DAY_MS;
}

export function dateOfDayNumber(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

function checkIntervals(list: HoursInterval[], field: string, out: SpecProblem[]): void {
  const parsed: Array<[number, number, number]> = [];
  list.forEach((iv, i) => {
    const f = `${field}[${i}]`;
    if (!TIME_RE.test(iv.start) || iv.start === '24:00') {
      out.push({ field: `${f}.start`, message: 'a time HH:MM between 00:00 and 23:59' });
      return;
    }
    if (!TIME_RE.test(iv.end)) {
      out.push({ field: `${f}.end`, message: 'a time HH:MM between 00:01 and 24:00' });
      return;
    }
    const s = minutesOf(iv.start);
    const e = minutesOf(iv.end);
    if (e <= s) {
      out.push({
        field: `${f}.end`,
        message: `must be after start (${iv.start}); an interval cannot cross midnight`,
      });
      return;
    }
    parsed.push([s, e, i]);
  });
  parsed.sort((a, b) => a[0] - b[0]);
  for (let k = 1; k < parsed.length; k++) {
    const prev = parsed[k - 1]!;
    const cur = parsed[k]!;
    if (cur[0] < prev[1]) {
      out.push({
        field: `${field}[${cur[2]}]`,
        message: `overlaps ${field}[${prev[2]}] (${list[prev[2]]!.start}–${list[prev[2]]!.end})`,
      });
    }
  }
}

/** Every problem of a calendar spec (empty when it is valid). Field names are the API's. */
export function validateCalendarSpec(spec: CalendarSpec): SpecProblem[] {
  const out: SpecProblem[] = [];
  if (!isValidTimeZone(spec.timeZone)) {
    out.push({
      field: 'timeZone',
      message: `unknown time zone "${spec.timeZone}" (an IANA name such as Asia/Shanghai)`,
    });
  }
  for (const wd of WEEKDAYS) checkIntervals(spec.weekly[wd] ?? [], `weekly.${wd}`, out);
  const holidayDays = new Map<number, number>();
  spec.holidays.forEach((h, i) => {
    const from = dayNumberOf(h.from);
    const to = dayNumberOf(h.to);
    if (from === null) out.push({ field: `holidays[${i}].from`, message: 'a date YYYY-MM-DD' });
    if (to === null) out.push({ field: `holidays[${i}].to`, message: 'a date YYYY-MM-DD' });
    if (from === null || to === null) return;
    if (to < from) out.push({ field: `holidays[${i}].to`, message: `must not be before from (${h.from})` });
    else if (to - from > 366)
      out.push({ field: `holidays[${i}].to`, message: 'a holiday range spans at most a year' });
    else for (let d = from; d <= to; d++) holidayDays.set(d, i);
  });
  const seen = new Map<number, number>();
  spec.workdays.forEach((w, i) => {
    const d = dayNumberOf(w.date);
    if (d === null) {
      out.push({ field: `workdays[${i}].date`, message: 'a date YYYY-MM-DD' });
      return;
    }
    const h = holidayDays.get(d);
    if (h !== undefined) {
      out.push({
        field: `workdays[${i}].date`,
        message: `${w.date} is inside holidays[${h}] (${spec.holidays[h]!.name})`,
      });
    }
    const dup = seen.get(d);
    if (dup !== undefined)
      out.push({ field: `workdays[${i}].date`, message: `${w.date} is also workdays[${dup}]` });
    seen.set(d, i);
    if (w.hours !== null) checkIntervals(w.hours, `workdays[${i}].hours`, out);
  });
  return out;
}

// ---------------------------------------------------------------- time zones

interface Zone {
  /** Offset (local − UTC, ms) in force at instant t. */
  offsetAt(t: number): number;
}

const zones = new Map<string, Zone>();

function zoneOf(timeZone: string): Zone {
  let z = zones.get(timeZone);
  if (z) return z;
  const fmt = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  function fromIntl(t: number): number {
    const probe = Math.floor(t / 1000) * 1000;
    const p: Record<string, number> = {};
    for (const part of fmt.formatToParts(probe)) {
      if (part.type !== 'literal') p[part.type] = Number(part.value);
    }
    return Date.UTC(p.year!, p.month! - 1, p.day, p.hour, p.minute, p.second) - probe;
  }
  // The exact offset of an instant, cached per UTC hour when it is the same all that hour; an
  // hour with a change (some zones change on a half hour, e.g. America/St_Johns) asks Intl.
  const hourly = new Map<number, number>();
  function exact(t: number): number {
    const hour = Math.floor(t / 3_600_000);
    const hit = hourly.get(hour);
    if (hit !== undefined) return hit;
    const first = fromIntl(hour * 3_600_000);
    if (first !== fromIntl(hour * 3_600_000 + 3_599_999)) return fromIntl(t);
    if (hourly.size > 50_000) hourly.clear();
    hourly.set(hour, first);
    return first;
  }
  // Fast path: per UTC day (1970 – 2328), the offsets at its first and last millisecond; when they
  // are equal (every day but the few with a change) that is the offset all day.
  const DAYS = 131_072;
  let dayStart: Float64Array | null = null;
  let dayEnd: Float64Array | null = null;
  z = {
    offsetAt(t: number): number {
      const d = Math.floor(t / DAY_MS);
      if (d < 0 || d >= DAYS) return exact(t);
      if (dayStart === null || dayEnd === null) {
        dayStart = new Float64Array(DAYS).fill(NaN);
        dayEnd = new Float64Array(DAYS).fill(NaN);
      }
      let a = dayStart[d]!;
      if (Number.isNaN(a)) {
        a = dayStart[d] = exact(d * DAY_MS);
        dayEnd[d] = exact(d * DAY_MS + DAY_MS - 1);
      }
      return a === dayEnd[d] ? a : exact(t);
    },
  };
  zones.set(timeZone, z);
  return z;
}

/**
 * The instant of a local wall time (given as ms since the epoch as if the wall time were UTC).
 * A wall time inside a DST gap moves forward by the gap; an ambiguous one takes the earlier instant.
 */
function instantOfWallTime(zone: Zone, wall: number): number {
  const before = zone.offsetAt(wall - DAY_MS);
  const after = zone.offsetAt(wall + DAY_MS);
  if (before === after && zone.offsetAt(wall - before) === before) return wall - before;
  const a = wall - before;
  const b = wall - after;
  const aOk = zone.offsetAt(a) === before;
  const bOk = zone.offsetAt(b) === after;
  if (aOk && bOk) return Math.min(a, b);
  if (aOk) return a;
  if (bOk) return b;
  return wall - before; // in the gap: the earlier offset lands after the jump
}

// ---------------------------------------------------------------- compiled calendars

export interface Calendar {
  readonly spec: CalendarSpec;
  /** The local day number (days since 1970-01-01 in the calendar's zone) of an instant. */
  localDay(t: number): number;
  /**
   * One local day, flat for speed: [total open ms, start0, end0, start1, end1, …] with sorted,
   * disjoint [start, end) UTC instants. Computed once per day and kept.
   */
  day(day: number): Float64Array;
  /** The open intervals of a local day as [startMs, endMs) pairs (for reading, not hot paths). */
  intervalsOfDay(day: number): Array<[number, number]>;
}

type Minutes = ReadonlyArray<readonly [number, number]>;

function toMinutes(list: HoursInterval[]): Minutes {
  return list.map((iv) => [minutesOf(iv.start), minutesOf(iv.end)] as const).sort((a, b) => a[0] - b[0]);
}

/** The hours a make-up working day has when it states none: Monday's, else the first of Tue–Fri with hours. */
export function normalWeekdayHours(weekly: WeeklyHours): HoursInterval[] {
  for (const wd of ['mon', 'tue', 'wed', 'thu', 'fri'] as const) {
    if ((weekly[wd] ?? []).length > 0) return weekly[wd];
  }
  return [];
}

/** Prepare a spec for the arithmetic. Call validateCalendarSpec first: this one assumes a valid spec. */
export function compileCalendar(spec: CalendarSpec): Calendar {
  const zone = zoneOf(spec.timeZone);
  const weekly = WEEKDAYS.map((wd) => toMinutes(spec.weekly[wd] ?? []));
  const normal = toMinutes(normalWeekdayHours(spec.weekly));
  const holidays = new Set<number>();
  for (const h of spec.holidays) {
    const from = dayNumberOf(h.from);
    const to = dayNumberOf(h.to);
    if (from === null || to === null) continue;
    for (let d = from; d <= to; d++) holidays.add(d);
  }
  const workdays = new Map<number, Minutes>();
  for (const w of spec.workdays) {
    const d = dayNumberOf(w.date);
    if (d !== null) workdays.set(d, w.hours === null ? normal : toMinutes(w.hours));
  }
  // Days 0 … 2^17 (1970 – 2328) in a dense array; others (before 1970) in a map.
  const dense: Array<Float64Array | undefined> = [];
  const sparse = new Map<number, Float64Array>();

  function minutesOfDay(day: number): Minutes {
    const made = workdays.get(day);
    if (made) return made;
    if (holidays.has(day)) return [];
    // 1970-01-01 (day 0) was a Thursday.
    return weekly[(((day + 4) % 7) + 7) % 7]!;
  }

  function build(day: number): Float64Array {
    const out: number[] = [0];
    for (const [s, e] of minutesOfDay(day)) {
      const start = instantOfWallTime(zone, day * DAY_MS + s * MINUTE_MS);
      const end = instantOfWallTime(zone, day * DAY_MS + e * MINUTE_MS);
      if (end <= start) continue; // cannot happen with valid intervals; kept for safety
      if (out.length > 1 && start <= out[out.length - 1]!)
        out[out.length - 1] = Math.max(out[out.length - 1]!, end);
      else out.push(start, end);
    }
    for (let i = 1; i < out.length; i += 2) out[0]! += out[i + 1]! - out[i]!;
    return Float64Array.from(out);
  }

  function dayOf(day: number): Float64Array {
    if (day >= 0 && day < 131_072) {
      let hit = dense[day];
      if (hit === undefined) dense[day] = hit = build(day);
      return hit;
    }
    let hit = sparse.get(day);
    if (hit === undefined) {
      if (sparse.size > 4096) sparse.clear();
      sparse.set(day, (hit = build(day)));
    }
    return hit;
  }

  return {
    spec,
    localDay(t: number): number {
      return Math.floor((t + zone.offsetAt(t)) / DAY_MS);
    },
    day: dayOf,
    intervalsOfDay(day: number) {
      const d = dayOf(day);
      const out: Array<[number, number]> = [];
      for (let i = 1; i < d.length; i += 2) out.push([d[i]!, d[i + 1]!]);
      return out;
    },
  };
}

// ---------------------------------------------------------------- the four questions

/** Is the calendar open at instant t? */
export function isOpen(cal: Calendar, t: number): boolean {
  const d = cal.day(cal.localDay(t));
  for (let i = 1; i < d.length; i += 2) {
    if (t >= d[i]! && t < d[i + 1]!) return true;
  }
  return false;
}

/**
 * The first instant at or after t when the calendar is open: t itself when open now; null when
 * it does not open within three years (a calendar without hours).
 */
export function nextOpening(cal: Calendar, t: number): number | null {
  const first = cal.localDay(t);
  for (let day = first; day < first + MAX_SEARCH_DAYS; day++) {
    const d = cal.day(day);
    for (let i = 1; i < d.length; i += 2) {
      if (d[i + 1]! > t) return Math.max(d[i]!, t);
    }
  }
  return null;
}

/** The first instant after t when an open period ends (t itself when closed at t). */
export function nextClosing(cal: Calendar, t: number): number {
  const d = cal.day(cal.localDay(t));
  for (let i = 1; i < d.length; i += 2) {
    if (t >= d[i]! && t < d[i + 1]!) return d[i + 1]!;
  }
  return t;
}

/** Open time of day record `d` inside [a, b). */
function openWithin(d: Float64Array, a: number, b: number): number {
  let total = 0;
  for (let i = 1; i < d.length; i += 2) {
    const from = d[i]! > a ? d[i]! : a;
    const to = d[i + 1]! < b ? d[i + 1]! : b;
    if (to > from) total += to - from;
  }
  return total;
}

/** Open time (ms) between instants a and b; negative when b is before a. */
export function businessTimeBetween(cal: Calendar, a: number, b: number): number {
  if (b < a) return -businessTimeBetween(cal, b, a);
  const first = cal.localDay(a);
  const last = cal.localDay(b);
  if (first === last) return openWithin(cal.day(first), a, b);
  let total = openWithin(cal.day(first), a, b) + openWithin(cal.day(last), a, b);
  for (let day = first + 1; day < last; day++) total += cal.day(day)[0]!; // whole days
  return total;
}

/**
 * The instant when `durationMs` of open time has passed since `start` (the SLA due time).
 * A duration of 0 gives `start` itself; a duration that ends exactly when a period closes gives
 * that closing instant (not the next opening). null when the calendar does not provide that much
 * open time within three years of the last opening.
 */
export function addBusinessTime(cal: Calendar, start: number, durationMs: number): number | null {
  if (durationMs < 0) throw new RangeError('durationMs must not be negative');
  if (durationMs === 0) return start;
  let left = durationMs;
  let day = cal.localDay(start);
  let idle = 0;
  let d = cal.day(day);
  // The first day: only what is after `start`.
  for (let i = 1; i < d.length; i += 2) {
    const from = d[i]! > start ? d[i]! : start;
    const e = d[i + 1]!;
    if (e <= from) continue;
    if (e - from >= left) return from + left;
    left -= e - from;
  }
  while (idle < MAX_SEARCH_DAYS) {
    d = cal.day(++day);
    const total = d[0]!;
    if (total === 0) {
      idle++;
      continue;
    }
    idle = 0;
    if (total < left) {
      left -= total; // the whole day
      continue;
    }
    for (let i = 1; i < d.length; i += 2) {
      const len = d[i + 1]! - d[i]!;
      if (len >= left) return d[i]! + left;
      left -= len;
    }
  }
  return null;
}
