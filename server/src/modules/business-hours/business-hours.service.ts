// Business hours: calendars (weekly hours in a time zone, holidays, make-up working days), the
// link of a team to its calendar (no link: always open), the shipped PRC holiday schedule, .ics
// import/export, and the off-hours side of the widget (when does the team open; leave a message).
// Admins manage calendars (business_hours.manage); supervisors read them (business_hours.read).
// Other modules ask `calendarOfTeam` (routing's off-hours, the SLA clock of tickets) and do the
// arithmetic with calendar-math.ts. docs/BUSINESS-HOURS.md.
import type { AuditTrail } from '../../platform/audit.ts';
import type { Database, Executor } from '../../platform/db/database.ts';
import { BadRequestError, ConflictError, NotFoundError } from '../../platform/errors.ts';
import type { ContactsService } from '../contacts/contacts.service.ts';
import type { VisitorIdentity } from '../conversations/visitor-tokens.ts';
import { authorize, type Actor } from '../identity/permissions.ts';
import { CONSENT_NOTICE_VERSION } from '../widget/widget.service.ts';
import {
  WEEKDAYS,
  compileCalendar,
  dayNumberOf,
  isOpen,
  nextOpening,
  validateCalendarSpec,
  type Calendar,
  type CalendarSpec,
  type HoursInterval,
  type WeeklyHours,
} from './calendar-math.ts';
import type { BusinessHoursRepository, CalendarRow } from './business-hours.repository.ts';
import type {
  CreateCalendarInput,
  EntrySource,
  HolidayInput,
  LeaveMessageInput,
  UpdateCalendarInput,
  WorkdayInput,
} from './business-hours.schemas.ts';
import { prcYearEntries, yearsOf, type HolidayData } from './holiday-data.ts';
import { exportIcs, importIcs } from './ics.ts';

export const DEFAULT_TIME_ZONE = 'Asia/Shanghai';

/** Two admins saving the same name at once: the unique index decides, the loser gets a 409. */
async function uniqueName<T>(name: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    if ((err as { code?: unknown }).code === '23505') {
      throw new ConflictError(`name: a calendar called "${name}" exists`, { field: 'name' });
    }
    throw err;
  }
}

/** Monday to Friday 09:00–18:00: what a new calendar starts with when no hours are given. */
export function defaultWeekly(): WeeklyHours {
  const day = [{ start: '09:00', end: '18:00' }];
  return { mon: day, tue: day, wed: day, thu: day, fri: day, sat: [], sun: [] };
}

interface StoredHoliday {
  name: string;
  from: string;
  to: string;
  source: EntrySource;
}
interface StoredWorkday {
  name: string;
  date: string;
  hours: HoursInterval[] | null;
  source: EntrySource;
}

export interface CalendarView {
  id: string;
  name: string;
  timeZone: string;
  weekly: WeeklyHours;
  holidays: StoredHoliday[];
  workdays: StoredWorkday[];
  teamIds: string[];
  years: number[];
  missingNextYear: boolean;
  createdAt: string;
  updatedAt: string;
}

const PHONE_RE = /^[0-9+()\- .]{3,32}$/;
// Deliberately plain: something@something.tld, no spaces (the contact keeps what was typed).
const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function createBusinessHoursService(deps: {
  db: Database;
  repo: BusinessHoursRepository;
  auditTrail: AuditTrail;
  holidayData: HolidayData;
  /** Throws NotFoundError when the team does not exist (teams service). */
  requireTeam: (actor: Actor, teamId: string) => Promise<void>;
  /**
   * Which team a visitor's chat goes to. For now the website's default team; routing rules
   * decide later: rewire this one function in container.ts.
   */
  teamOfVisit: (visit: { channelId: string; contactId: string | null }) => Promise<string | null>;
  contacts: Pick<ContactsService, 'setVisitorProfile'>;
  conversations: {
    openConversation(v: VisitorIdentity): Promise<{ id: string }>;
    visitorSend(
      v: VisitorIdentity,
      conversationId: string,
      input: { clientId: string; text: string },
    ): Promise<unknown>;
  };
  now?: () => number;
}) {
  const { db, repo, auditTrail, holidayData } = deps;
  const now = deps.now ?? Date.now;
  const who = (a: Actor) => ({ id: a.userId, name: a.username, ip: a.ip, userAgent: a.userAgent });
  /** Compiled calendars by id, rebuilt when the row's updated_at moves. */
  const compiled = new Map<string, { stamp: number; cal: Calendar }>();

  function currentYear(): number {
    return new Date(now()).getUTCFullYear();
  }

  function entriesOf(row: Pick<CalendarRow, 'holidays' | 'workdays'>) {
    const holidays = (row.holidays ?? []) as unknown as StoredHoliday[];
    const workdays = (row.workdays ?? []) as unknown as StoredWorkday[];
    return { holidays, workdays };
  }

  function yearsIn(holidays: StoredHoliday[], workdays: StoredWorkday[]): number[] {
    const ys = new Set<number>();
    for (const h of holidays) {
      for (let y = Number(h.from.slice(0, 4)); y <= Number(h.to.slice(0, 4)); y++) ys.add(y);
    }
    for (const w of workdays) ys.add(Number(w.date.slice(0, 4)));
    return [...ys].sort((a, b) => a - b);
  }

  function view(row: CalendarRow, teamIds: string[]): CalendarView {
    const { holidays, workdays } = entriesOf(row);
    const years = yearsIn(holidays, workdays);
    return {
      id: row.id,
      name: row.name,
      timeZone: row.time_zone,
      weekly: row.weekly as unknown as WeeklyHours,
      holidays,
      workdays,
      teamIds,
      years,
      missingNextYear: holidays.length > 0 && !years.includes(currentYear() + 1),
      createdAt: row.created_at.toISOString(),
      updatedAt: row.updated_at.toISOString(),
    };
  }

  async function viewById(dbx: Executor, id: string): Promise<CalendarView> {
    const row = await repo.findCalendar(dbx, id);
    if (!row) throw new NotFoundError('calendar');
    return view(
      row,
      (await repo.teamsOfCalendar(dbx, id)).map((t) => t.team_id),
    );
  }

  function cleanName(name: string): string {
    const n = name.trim();
    if (n.length === 0 || n.length > 80) throw new BadRequestError('name: 1–80 characters', 'name');
    return n;
  }

  function normalizeHolidays(list: HolidayInput[], source: EntrySource = 'manual'): StoredHoliday[] {
    return list
      .map((h) => ({ name: h.name.trim(), from: h.from, to: h.to, source: h.source ?? source }))
      .sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0));
  }

  function normalizeWorkdays(list: WorkdayInput[], source: EntrySource = 'manual'): StoredWorkday[] {
    return list
      .map((w) => ({ name: w.name.trim(), date: w.date, hours: w.hours ?? null, source: w.source ?? source }))
      .sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
  }

  /** Refuses an invalid calendar with a 400 naming the first bad field; nothing is saved. */
  function checkSpec(spec: CalendarSpec): void {
    const problems = validateCalendarSpec(spec);
    const first = problems[0];
    if (first) throw new BadRequestError(`${first.field}: ${first.message}`, first.field);
  }

  function weeklyOf(input: WeeklyHours | undefined, fallback: WeeklyHours): WeeklyHours {
    if (!input) return fallback;
    const out = {} as WeeklyHours;
    for (const wd of WEEKDAYS) out[wd] = input[wd].map((i) => ({ start: i.start, end: i.end }));
    return out;
  }

  /** Validates and saves a calendar's full state in `trx`, with its audit record. */
  async function save(
    trx: Parameters<AuditTrail['record']>[0],
    actor: Actor,
    id: string,
    before: CalendarRow,
    next: {
      name: string;
      timeZone: string;
      weekly: WeeklyHours;
      holidays: StoredHoliday[];
      workdays: StoredWorkday[];
    },
    action: string,
    details: Record<string, unknown>,
  ): Promise<void> {
    checkSpec({
      timeZone: next.timeZone,
      weekly: next.weekly,
      holidays: next.holidays,
      workdays: next.workdays,
    });
    if (next.name !== before.name && (await repo.nameTaken(trx, next.name, id))) {
      throw new ConflictError(`name: a calendar called "${next.name}" exists`, { field: 'name' });
    }
    await uniqueName(next.name, () =>
      repo.updateCalendar(trx, id, {
        name: next.name,
        time_zone: next.timeZone,
        weekly: next.weekly,
        holidays: next.holidays,
        workdays: next.workdays,
      }),
    );
    await auditTrail.record(trx, who(actor), {
      action,
      targetType: 'business_calendar',
      targetId: id,
      details,
    });
  }

  async function loadForUpdate(trx: Executor, id: string) {
    const row = await repo.findCalendarForUpdate(trx, id);
    if (!row) throw new NotFoundError('calendar');
    return { row, ...entriesOf(row), weekly: row.weekly as unknown as WeeklyHours };
  }

  function compile(row: CalendarRow): Calendar {
    const stamp = row.updated_at.getTime();
    const hit = compiled.get(row.id);
    if (hit && hit.stamp === stamp) return hit.cal;
    const { holidays, workdays } = entriesOf(row);
    const cal = compileCalendar({
      timeZone: row.time_zone,
      weekly: row.weekly as unknown as WeeklyHours,
      holidays,
      workdays,
    });
    if (compiled.size > 1000) compiled.clear();
    compiled.set(row.id, { stamp, cal });
    return cal;
  }

  async function calendarOfTeam(teamId: string): Promise<Calendar | null> {
    const row = await repo.calendarOfTeam(db, teamId);
    return row ? compile(row) : null;
  }

  async function hoursOf(visit: { channelId: string; contactId: string | null }) {
    const teamId = await deps.teamOfVisit(visit);
    const cal = teamId ? await calendarOfTeam(teamId) : null;
    if (!cal) return { open: true, nextOpening: null, timeZone: DEFAULT_TIME_ZONE };
    const t = now();
    const next = nextOpening(cal, t);
    return {
      open: isOpen(cal, t),
      nextOpening: next === null ? null : new Date(next).toISOString(),
      timeZone: cal.spec.timeZone,
    };
  }

  return {
    /** The compiled calendar a team follows, or null (always open). For routing and the SLA clock. */
    calendarOfTeam,

    async listCalendars(actor: Actor): Promise<CalendarView[]> {
      authorize(actor, 'business_hours.read');
      const [rows, links] = await Promise.all([repo.listCalendars(db), repo.teamLinks(db)]);
      return rows.map((r) =>
        view(
          r,
          links.filter((l) => l.calendar_id === r.id).map((l) => l.team_id),
        ),
      );
    },

    async getCalendar(actor: Actor, id: string): Promise<CalendarView> {
      authorize(actor, 'business_hours.read');
      return viewById(db, id);
    },

    async createCalendar(actor: Actor, input: CreateCalendarInput): Promise<CalendarView> {
      authorize(actor, 'business_hours.manage');
      const name = cleanName(input.name);
      const timeZone = input.timeZone ?? DEFAULT_TIME_ZONE;
      const weekly = weeklyOf(input.weekly, defaultWeekly());
      const holidays = normalizeHolidays(input.holidays ?? []);
      const workdays = normalizeWorkdays(input.workdays ?? []);
      checkSpec({ timeZone, weekly, holidays, workdays });
      const id = await db.transaction().execute(async (trx) => {
        if (await repo.nameTaken(trx, name, null)) {
          throw new ConflictError(`name: a calendar called "${name}" exists`, { field: 'name' });
        }
        const row = await uniqueName(name, () =>
          repo.insertCalendar(trx, { name, time_zone: timeZone, weekly, holidays, workdays }),
        );
        await auditTrail.record(trx, who(actor), {
          action: 'business_calendar.create',
          targetType: 'business_calendar',
          targetId: row.id,
          details: { name, timeZone, holidays: holidays.length, workdays: workdays.length },
        });
        return row.id;
      });
      return viewById(db, id);
    },

    async updateCalendar(actor: Actor, id: string, patch: UpdateCalendarInput): Promise<CalendarView> {
      authorize(actor, 'business_hours.manage');
      await db.transaction().execute(async (trx) => {
        const cur = await loadForUpdate(trx, id);
        const next = {
          name: patch.name === undefined ? cur.row.name : cleanName(patch.name),
          timeZone: patch.timeZone ?? cur.row.time_zone,
          weekly: weeklyOf(patch.weekly, cur.weekly),
          holidays: patch.holidays ? normalizeHolidays(patch.holidays) : cur.holidays,
          workdays: patch.workdays ? normalizeWorkdays(patch.workdays) : cur.workdays,
        };
        await save(trx, actor, id, cur.row, next, 'business_calendar.update', {
          fields: Object.keys(patch),
          ...(next.name !== cur.row.name ? { name: { from: cur.row.name, to: next.name } } : {}),
          ...(next.timeZone !== cur.row.time_zone
            ? { timeZone: { from: cur.row.time_zone, to: next.timeZone } }
            : {}),
        });
      });
      return viewById(db, id);
    },

    async deleteCalendar(actor: Actor, id: string): Promise<void> {
      authorize(actor, 'business_hours.manage');
      await db.transaction().execute(async (trx) => {
        await loadForUpdate(trx, id);
        const users = await repo.teamsOfCalendar(trx, id);
        if (users.length > 0) {
          throw new ConflictError(
            `calendar: used by ${users.length} team(s); link them to another calendar first`,
            {
              field: 'calendar',
              teamIds: users.map((u) => u.team_id),
            },
          );
        }
        const deleted = await repo.deleteCalendar(trx, id);
        await auditTrail.record(trx, who(actor), {
          action: 'business_calendar.delete',
          targetType: 'business_calendar',
          targetId: id,
          details: { name: deleted?.name ?? null },
        });
      });
    },

    /** The shipped PRC schedule: which years it has and whether next year is missing. */
    holidayDataInfo(actor: Actor) {
      authorize(actor, 'business_hours.read');
      const years = yearsOf(holidayData);
      const year = currentYear();
      return {
        about: holidayData.about,
        years,
        currentYear: year,
        nextYear: year + 1,
        nextYearMissing: !years.includes(year + 1),
        nextYearDue: new Date(now()).getUTCMonth() >= 10,
      };
    },

    /**
     * Puts one year of the PRC schedule into a calendar: the year's earlier PRC entries are
     * replaced (so applying twice changes nothing), entries typed in or imported stay; a typed
     * entry on the same day as a PRC one wins (the PRC one is left out).
     */
    async applyPrcYear(actor: Actor, id: string, year: number): Promise<CalendarView> {
      authorize(actor, 'business_hours.manage');
      const entries = prcYearEntries(holidayData, year);
      if (!entries) {
        throw new BadRequestError(
          `year: the shipped schedule has no ${year} (it has ${yearsOf(holidayData).join(', ')}); enter it by hand or import an .ics file`,
          'year',
        );
      }
      await db.transaction().execute(async (trx) => {
        const cur = await loadForUpdate(trx, id);
        const inYear = (d: string) => d.startsWith(`${year}-`);
        const keptHolidays = cur.holidays.filter((h) => !(h.source === 'prc' && inYear(h.from)));
        const keptWorkdays = cur.workdays.filter((w) => !(w.source === 'prc' && inYear(w.date)));
        const taken = new Set<number>();
        for (const h of keptHolidays) {
          for (let d = dayNumberOf(h.from)!; d <= dayNumberOf(h.to)!; d++) taken.add(d);
        }
        for (const w of keptWorkdays) taken.add(dayNumberOf(w.date)!);
        const free = (from: string, to: string) => {
          for (let d = dayNumberOf(from)!; d <= dayNumberOf(to)!; d++) if (taken.has(d)) return false;
          return true;
        };
        const addHolidays = entries.holidays.filter((h) => free(h.from, h.to));
        const addWorkdays = entries.workdays.filter((w) => free(w.date, w.date));
        await save(
          trx,
          actor,
          id,
          cur.row,
          {
            name: cur.row.name,
            timeZone: cur.row.time_zone,
            weekly: cur.weekly,
            holidays: normalizeHolidays([
              ...keptHolidays,
              ...addHolidays.map((h) => ({ ...h, source: 'prc' as const })),
            ]),
            workdays: normalizeWorkdays([
              ...keptWorkdays,
              ...addWorkdays.map((w) => ({ ...w, source: 'prc' as const })),
            ]),
          },
          'business_calendar.apply_prc_year',
          {
            year,
            holidays: addHolidays.length,
            workdays: addWorkdays.length,
            skipped:
              entries.holidays.length - addHolidays.length + entries.workdays.length - addWorkdays.length,
          },
        );
      });
      return viewById(db, id);
    },

    async exportIcs(actor: Actor, id: string): Promise<{ fileName: string; text: string }> {
      authorize(actor, 'business_hours.read');
      const cal = await viewById(db, id);
      const safe = cal.name.replace(/[^\p{L}\p{N}_-]+/gu, '-').replace(/^-+|-+$/g, '') || 'calendar';
      return { fileName: `${safe}.ics`, text: exportIcs(cal) };
    },

    /**
     * Holidays and make-up days from an .ics file. Added to the calendar (entries on a day the
     * calendar already has are skipped), or, with `replace`, instead of its entries. A file that is
     * not iCalendar, or entries that would make the calendar invalid: 400, nothing saved.
     */
    async importIcs(actor: Actor, id: string, input: { ics: string; replace?: boolean | undefined }) {
      authorize(actor, 'business_hours.manage');
      const parsed = importIcs(input.ics);
      const counts = await db.transaction().execute(async (trx) => {
        const cur = await loadForUpdate(trx, id);
        const baseHolidays = input.replace ? [] : cur.holidays;
        const baseWorkdays = input.replace ? [] : cur.workdays;
        const taken = new Set<number>();
        for (const h of baseHolidays)
          for (let d = dayNumberOf(h.from)!; d <= dayNumberOf(h.to)!; d++) taken.add(d);
        for (const w of baseWorkdays) taken.add(dayNumberOf(w.date)!);
        const holidays: StoredHoliday[] = [];
        const workdays: StoredWorkday[] = [];
        let skipped = 0;
        // Make-up days first: a feed that lists a holiday range over a make-up day keeps the make-up day.
        for (const w of parsed.workdays) {
          const d = dayNumberOf(w.date)!;
          if (taken.has(d)) {
            skipped++;
            continue;
          }
          taken.add(d);
          workdays.push({ ...w, source: 'ics' });
        }
        for (const h of parsed.holidays) {
          const from = dayNumberOf(h.from)!;
          const to = dayNumberOf(h.to)!;
          let clash = false;
          for (let d = from; d <= to; d++) if (taken.has(d)) clash = true;
          if (clash) {
            skipped++;
            continue;
          }
          for (let d = from; d <= to; d++) taken.add(d);
          holidays.push({ ...h, source: 'ics' });
        }
        await save(
          trx,
          actor,
          id,
          cur.row,
          {
            name: cur.row.name,
            timeZone: cur.row.time_zone,
            weekly: cur.weekly,
            holidays: normalizeHolidays([...baseHolidays, ...holidays]),
            workdays: normalizeWorkdays([...baseWorkdays, ...workdays]),
          },
          'business_calendar.import_ics',
          { replace: input.replace === true, holidays: holidays.length, workdays: workdays.length, skipped },
        );
        return { holidaysAdded: holidays.length, workdaysAdded: workdays.length, skipped };
      });
      return { calendar: await viewById(db, id), ...counts };
    },

    async listTeamCalendars(actor: Actor) {
      authorize(actor, 'business_hours.read');
      return (await repo.teamLinks(db)).map((l) => ({ teamId: l.team_id, calendarId: l.calendar_id }));
    },

    /** Links a team to a calendar, or (null) unlinks it: the team is then always open. */
    async setTeamCalendar(actor: Actor, teamId: string, calendarId: string | null) {
      authorize(actor, 'business_hours.manage');
      await deps.requireTeam(actor, teamId);
      await db.transaction().execute(async (trx) => {
        let before: string | null = null;
        if (calendarId === null) {
          before = (await repo.unlinkTeam(trx, teamId))?.calendar_id ?? null;
          if (before === null) return; // nothing was linked: nothing changed, nothing to audit
        } else {
          if (!(await repo.findCalendarForUpdate(trx, calendarId))) throw new NotFoundError('calendar');
          await repo.linkTeam(trx, teamId, calendarId);
        }
        await auditTrail.record(trx, who(actor), {
          action: 'team.calendar_set',
          targetType: 'team',
          targetId: teamId,
          details: { calendarId, ...(before ? { previous: before } : {}) },
        });
      });
      return { teamId, calendarId };
    },

    // ---------------------------------------------------------------- the widget (visitors)

    /** Is the site's team open now, and when does it open next (the widget asks before a chat starts). */
    siteHours: (channelId: string) => hoursOf({ channelId, contactId: null }),

    /**
     * The leave-a-message form outside hours: the contact's name and phone or email (with the
     * visitor's consent, recorded and audited like the pre-chat form), then the visitor's
     * conversation (the open one, else a new one in the team's queue) with the question as the
     * visitor's message. Each step is its own transaction and safe to repeat: a retry with the
     * same clientId finds the same conversation and stores the message once.
     */
    async leaveMessage(v: VisitorIdentity, input: LeaveMessageInput) {
      const name = input.name.trim();
      if (name === '') throw new BadRequestError('name: must not be empty', 'name');
      const phone = input.phone?.trim() || undefined;
      const email = input.email?.trim() || undefined;
      if (phone === undefined && email === undefined) {
        throw new BadRequestError('phone: give a phone number or an email address', 'phone');
      }
      if (phone !== undefined && !PHONE_RE.test(phone)) {
        throw new BadRequestError('phone: digits, spaces and + ( ) - . only', 'phone');
      }
      if (email !== undefined && !EMAIL_RE.test(email)) {
        throw new BadRequestError('email: not an email address', 'email');
      }
      const question = input.question.trim();
      if (question === '') throw new BadRequestError('question: must not be empty', 'question');
      if (!input.consent) {
        throw new BadRequestError(
          'consent: the visitor must agree to the processing of personal data',
          'consent',
        );
      }
      await db.transaction().execute(async (trx) => {
        const saved = await deps.contacts.setVisitorProfile(trx, v.contactId, {
          name,
          ...(phone !== undefined ? { phone } : {}),
          ...(email !== undefined ? { email } : {}),
          consent: {
            at: new Date(now()).toISOString(),
            channelId: v.channelId,
            version: CONSENT_NOTICE_VERSION,
          },
        });
        if (!saved) throw new NotFoundError('contact');
        await auditTrail.record(
          trx,
          { id: null, name: `visitor:${v.contactId}`, ip: null, userAgent: null },
          {
            action: 'contact.consent',
            targetType: 'contact',
            targetId: v.contactId,
            details: {
              channelId: v.channelId,
              via: 'leave_message',
              fields: ['name', phone !== undefined && 'phone', email !== undefined && 'email'].filter(
                Boolean,
              ),
            },
          },
        );
      });
      const conversation = await deps.conversations.openConversation(v);
      await deps.conversations.visitorSend(v, conversation.id, { clientId: input.clientId, text: question });
      const hours = await hoursOf(v);
      return { conversationId: conversation.id, nextOpening: hours.open ? null : hours.nextOpening };
    },
  };
}

export type BusinessHoursService = ReturnType<typeof createBusinessHoursService>;
