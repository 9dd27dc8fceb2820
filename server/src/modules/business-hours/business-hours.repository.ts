// Business-hours tables: business_calendars (hours, holidays and make-up days of one calendar) and
// team_calendars (which team follows which calendar). Queries only; the service decides.
import { sql } from 'kysely';
import type { Executor } from '../../platform/db/database.ts';

const calendarColumns = [
  'id',
  'name',
  'time_zone',
  'weekly',
  'holidays',
  'workdays',
  'created_at',
  'updated_at',
] as const;

export interface CalendarWrite {
  name: string;
  time_zone: string;
  weekly: unknown;
  holidays: unknown;
  workdays: unknown;
}

const json = (v: unknown) => JSON.stringify(v);

export function createBusinessHoursRepository() {
  return {
    listCalendars(db: Executor) {
      return db.selectFrom('business_calendars').select(calendarColumns).orderBy('name').execute();
    },

    findCalendar(db: Executor, id: string) {
      return db
        .selectFrom('business_calendars')
        .select(calendarColumns)
        .where('id', '=', id)
        .executeTakeFirst();
    },

    findCalendarForUpdate(db: Executor, id: string) {
      return db
        .selectFrom('business_calendars')
        .select(calendarColumns)
        .where('id', '=', id)
        .forUpdate()
        .executeTakeFirst();
    },

    async nameTaken(db: Executor, name: string, exceptId: string | null) {
      let q = db
        .selectFrom('business_calendars')
        .select('id')
        .where(sql<string>`lower(name)`, '=', name.toLowerCase());
      if (exceptId) q = q.where('id', '<>', exceptId);
      return (await q.executeTakeFirst()) !== undefined;
    },

    insertCalendar(db: Executor, c: CalendarWrite) {
      return db
        .insertInto('business_calendars')
        .values({
          name: c.name,
          time_zone: c.time_zone,
          weekly: json(c.weekly),
          holidays: json(c.holidays),
          workdays: json(c.workdays),
        })
        .returning(calendarColumns)
        .executeTakeFirstOrThrow();
    },

    updateCalendar(db: Executor, id: string, c: CalendarWrite) {
      return db
        .updateTable('business_calendars')
        .set({
          name: c.name,
          time_zone: c.time_zone,
          weekly: json(c.weekly),
          holidays: json(c.holidays),
          workdays: json(c.workdays),
          updated_at: sql<Date>`now()`,
        })
        .where('id', '=', id)
        .returning(calendarColumns)
        .executeTakeFirstOrThrow();
    },

    deleteCalendar(db: Executor, id: string) {
      return db
        .deleteFrom('business_calendars')
        .where('id', '=', id)
        .returning(['id', 'name'])
        .executeTakeFirst();
    },

    teamLinks(db: Executor) {
      return db.selectFrom('team_calendars').select(['team_id', 'calendar_id']).orderBy('team_id').execute();
    },

    teamsOfCalendar(db: Executor, calendarId: string) {
      return db
        .selectFrom('team_calendars')
        .select('team_id')
        .where('calendar_id', '=', calendarId)
        .orderBy('team_id')
        .execute();
    },

    calendarOfTeam(db: Executor, teamId: string) {
      return db
        .selectFrom('team_calendars')
        .innerJoin('business_calendars as c', 'c.id', 'team_calendars.calendar_id')
        .select([
          'c.id',
          'c.name',
          'c.time_zone',
          'c.weekly',
          'c.holidays',
          'c.workdays',
          'c.created_at',
          'c.updated_at',
        ])
        .where('team_calendars.team_id', '=', teamId)
        .executeTakeFirst();
    },

    linkTeam(db: Executor, teamId: string, calendarId: string) {
      return db
        .insertInto('team_calendars')
        .values({ team_id: teamId, calendar_id: calendarId })
        .onConflict((oc) =>
          oc.column('team_id').doUpdateSet({ calendar_id: calendarId, updated_at: sql<Date>`now()` }),
        )
        .execute();
    },

    unlinkTeam(db: Executor, teamId: string) {
      return db
        .deleteFrom('team_calendars')
        .where('team_id', '=', teamId)
        .returning('calendar_id')
        .executeTakeFirst();
    },
  };
}

export type BusinessHoursRepository = ReturnType<typeof createBusinessHoursRepository>;
export type CalendarRow = NonNullable<Awaited<ReturnType<BusinessHoursRepository['findCalendar']>>>;
