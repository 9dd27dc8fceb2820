// The official PRC holiday schedule shipped with Parley (server/data/holidays/cn.json, from the
// State Council notices; its "about" says where each year comes from). Read once, validated, and
// turned into calendar entries an admin applies to a calendar one year at a time.
// docs/BUSINESS-HOURS.md, "Holiday data", and OPERATIONS.md say how to add the next year.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dayNumberOf, type HolidayRange, type MakeUpWorkday } from './calendar-math.ts';

export const HOLIDAY_DATA_FILE = fileURLToPath(new URL('../../../data/holidays/cn.json', import.meta.url));

export interface HolidayYear {
  holidays: Array<{ name: string; en?: string; from: string; to: string }>;
  workdays: string[];
}

export interface HolidayData {
  about: string;
  years: Record<string, HolidayYear>;
}

/** Reads and checks the file; a malformed file is a startup error, not a silent gap. */
export function loadHolidayData(file: string = HOLIDAY_DATA_FILE): HolidayData {
  const data = JSON.parse(readFileSync(file, 'utf8')) as HolidayData;
  if (typeof data.about !== 'string' || typeof data.years !== 'object' || data.years === null) {
    throw new Error(`${file}: expected {"about": string, "years": {...}}`);
  }
  for (const [year, y] of Object.entries(data.years)) {
    if (!/^\d{4}$/.test(year)) throw new Error(`${file}: year "${year}" is not YYYY`);
    for (const h of y.holidays) {
      if (dayNumberOf(h.from) === null || dayNumberOf(h.to) === null || h.to < h.from) {
        throw new Error(`${file}: ${year} holiday ${h.name}: bad dates ${h.from}..${h.to}`);
      }
    }
    for (const d of y.workdays) {
      if (dayNumberOf(d) === null) throw new Error(`${file}: ${year} workday ${d} is not a date`);
    }
  }
  return data;
}

/** A year of the schedule as calendar entries (make-up days with the normal weekday hours), or null. */
export function prcYearEntries(
  data: HolidayData,
  year: number,
): { holidays: HolidayRange[]; workdays: MakeUpWorkday[] } | null {
  const y = data.years[String(year)];
  if (!y) return null;
  return {
    holidays: y.holidays.map((h) => ({ name: h.name, from: h.from, to: h.to })),
    workdays: y.workdays.map((date) => ({ name: '调休上班', date, hours: null })),
  };
}

export function yearsOf(data: HolidayData): number[] {
  return Object.keys(data.years)
    .map(Number)
    .sort((a, b) => a - b);
}
