import { Type, type Static } from '@fastify/type-provider-typebox';
import { Uuid } from '../../platform/http/schemas.ts';

const Time = Type.String({ pattern: '^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$' });
const LocalDate = Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' });
const Name = Type.String({ maxLength: 80 });

export const HoursIntervalSchema = Type.Object({ start: Time, end: Time }, { additionalProperties: false });
const DayHours = Type.Array(HoursIntervalSchema, { maxItems: 12 });

export const WeeklyHoursSchema = Type.Object(
  { mon: DayHours, tue: DayHours, wed: DayHours, thu: DayHours, fri: DayHours, sat: DayHours, sun: DayHours },
  { additionalProperties: false },
);

/** Where an entry came from: typed in, the shipped PRC schedule, or an imported .ics file. */
export const EntrySource = Type.Union([Type.Literal('manual'), Type.Literal('prc'), Type.Literal('ics')]);
export type EntrySource = Static<typeof EntrySource>;

export const HolidaySchema = Type.Object(
  { name: Name, from: LocalDate, to: LocalDate, source: Type.Optional(EntrySource) },
  { additionalProperties: false },
);
export const WorkdaySchema = Type.Object(
  {
    name: Name,
    date: LocalDate,
    /** null (or absent): the calendar's normal weekday hours (Monday's; docs/BUSINESS-HOURS.md). */
    hours: Type.Optional(Type.Union([DayHours, Type.Null()])),
    source: Type.Optional(EntrySource),
  },
  { additionalProperties: false },
);
export type HolidayInput = Static<typeof HolidaySchema>;
export type WorkdayInput = Static<typeof WorkdaySchema>;

const TimeZone = Type.String({ minLength: 1, maxLength: 64 });

export const CreateCalendarBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 80 }),
    timeZone: Type.Optional(TimeZone),
    weekly: Type.Optional(WeeklyHoursSchema),
    holidays: Type.Optional(Type.Array(HolidaySchema, { maxItems: 2000 })),
    workdays: Type.Optional(Type.Array(WorkdaySchema, { maxItems: 2000 })),
  },
  { additionalProperties: false },
);
export type CreateCalendarInput = Static<typeof CreateCalendarBody>;

export const UpdateCalendarBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 80 })),
    timeZone: Type.Optional(TimeZone),
    weekly: Type.Optional(WeeklyHoursSchema),
    holidays: Type.Optional(Type.Array(HolidaySchema, { maxItems: 2000 })),
    workdays: Type.Optional(Type.Array(WorkdaySchema, { maxItems: 2000 })),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateCalendarInput = Static<typeof UpdateCalendarBody>;

export const CalendarSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  timeZone: Type.String(),
  weekly: WeeklyHoursSchema,
  holidays: Type.Array(
    Type.Object({ name: Type.String(), from: Type.String(), to: Type.String(), source: EntrySource }),
  ),
  workdays: Type.Array(
    Type.Object({
      name: Type.String(),
      date: Type.String(),
      hours: Type.Union([Type.Array(HoursIntervalSchema), Type.Null()]),
      source: EntrySource,
    }),
  ),
  /** Teams that use this calendar. */
  teamIds: Type.Array(Type.String()),
  /** Years (local) that have at least one holiday or make-up day entry. */
  years: Type.Array(Type.Integer()),
  /** The calendar has holiday entries but none for next year (the console warns). */
  missingNextYear: Type.Boolean(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

export const YearParams = Type.Object(
  { id: Uuid, year: Type.Integer({ minimum: 2000, maximum: 2100 }) },
  { additionalProperties: false },
);

export const HolidayDataResponse = Type.Object({
  /** Provenance of the shipped schedule (the State Council notices). */
  about: Type.String(),
  years: Type.Array(Type.Integer()),
  currentYear: Type.Integer(),
  nextYear: Type.Integer(),
  /** The shipped schedule has no entry for next year. */
  nextYearMissing: Type.Boolean(),
  /** November or December: the next year's notice is due or out; a missing year matters now. */
  nextYearDue: Type.Boolean(),
});

export const ImportIcsBody = Type.Object(
  {
    /** The .ics file's text. */
    ics: Type.String({ minLength: 1, maxLength: 1_000_000 }),
    /** true: the file's entries replace the calendar's holidays and make-up days; false: they are added. */
    replace: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const ImportIcsResponse = Type.Object({
  calendar: CalendarSchema,
  holidaysAdded: Type.Integer(),
  workdaysAdded: Type.Integer(),
  skipped: Type.Integer(),
});

export const TeamCalendarSchema = Type.Object({ teamId: Type.String(), calendarId: Type.String() });
export const TeamParams = Type.Object({ teamId: Uuid }, { additionalProperties: false });
export const SetTeamCalendarBody = Type.Object(
  { calendarId: Type.Union([Uuid, Type.Null()]) },
  { additionalProperties: false },
);

// ---------------------------------------------------------------- the widget's off-hours

export const WidgetHoursQuery = Type.Object({ site: Uuid }, { additionalProperties: false });

export const WidgetHoursResponse = Type.Object({
  /** Is the site's team open now (no calendar: always). */
  open: Type.Boolean(),
  /** When it opens next (ISO instant; now when open; null: no calendar, or never). */
  nextOpening: Type.Union([Type.String(), Type.Null()]),
  /** The calendar's time zone, to show the opening in the team's local time. */
  timeZone: Type.String(),
});

export const LeaveMessageBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 80 }),
    phone: Type.Optional(Type.String({ maxLength: 32 })),
    email: Type.Optional(Type.String({ maxLength: 254 })),
    question: Type.String({ minLength: 1, maxLength: 4000 }),
    /** The visitor agreed to the processing of the personal data they typed (as the pre-chat form). */
    consent: Type.Boolean(),
    /** Client-chosen id of the message (retries are deduplicated like any send). */
    clientId: Type.String({ minLength: 8, maxLength: 64, pattern: '^[A-Za-z0-9_.:-]+$' }),
  },
  { additionalProperties: false },
);
export type LeaveMessageInput = Static<typeof LeaveMessageBody>;

export const LeaveMessageResponse = Type.Object({
  conversationId: Type.String(),
  nextOpening: Type.Union([Type.String(), Type.Null()]),
});
