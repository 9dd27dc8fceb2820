// The business-hours API as the console uses it (docs/BUSINESS-HOURS.md). Types follow
// server/src/modules/business-hours/business-hours.schemas.ts.
import type { Static } from '@fastify/type-provider-typebox';
import type {
  CalendarSchema,
  CreateCalendarBody,
  HolidayDataResponse,
  ImportIcsResponse,
  UpdateCalendarBody,
} from '../../../../server/src/modules/business-hours/business-hours.schemas.ts';

export type BusinessCalendar = Static<typeof CalendarSchema>;
export type CreateCalendarInput = Static<typeof CreateCalendarBody>;
export type UpdateCalendarInput = Static<typeof UpdateCalendarBody>;
export type HolidayDataInfo = Static<typeof HolidayDataResponse>;
export type ImportIcsResult = Static<typeof ImportIcsResponse>;
export interface TeamCalendarLink {
  teamId: string;
  calendarId: string;
}

type Request = <T>(
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE',
  path: string,
  body?: unknown,
) => Promise<T>;

export function businessHoursApi(request: Request, id: (v: string) => string) {
  const base = '/api/v1/business-hours';
  return {
    list: async () =>
      (await request<{ calendars: BusinessCalendar[] }>('GET', `${base}/calendars`)).calendars,
    create: (input: CreateCalendarInput) => request<BusinessCalendar>('POST', `${base}/calendars`, input),
    update: (calendarId: string, patch: UpdateCalendarInput) =>
      request<BusinessCalendar>('PATCH', `${base}/calendars/${id(calendarId)}`, patch),
    remove: (calendarId: string) => request<void>('DELETE', `${base}/calendars/${id(calendarId)}`),
    applyPrcYear: (calendarId: string, year: number) =>
      request<BusinessCalendar>('POST', `${base}/calendars/${id(calendarId)}/prc-years/${year}`),
    importIcs: (calendarId: string, ics: string, replace: boolean) =>
      request<ImportIcsResult>('POST', `${base}/calendars/${id(calendarId)}/ics`, { ics, replace }),
    /** Where the browser downloads the calendar's .ics file (same origin, session cookie). */
    exportUrl: (calendarId: string) => `${base}/calendars/${id(calendarId)}/ics`,
    holidayData: () => request<HolidayDataInfo>('GET', `${base}/holiday-data`),
    teamLinks: async () => (await request<{ teams: TeamCalendarLink[] }>('GET', `${base}/teams`)).teams,
    linkTeam: (teamId: string, calendarId: string | null) =>
      request<{ teamId: string; calendarId: string | null }>('PUT', `${base}/teams/${id(teamId)}`, {
        calendarId,
      }),
  };
}
