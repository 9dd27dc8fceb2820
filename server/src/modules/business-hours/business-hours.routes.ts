import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { actorOf } from '../../platform/http/auth.plugin.ts';
import { ErrorResponse, IdParams, authErrors } from '../../platform/http/schemas.ts';
import type { VisitorIdentity } from '../conversations/visitor-tokens.ts';
import type { BusinessHoursService } from './business-hours.service.ts';
import {
  CalendarSchema,
  CreateCalendarBody,
  HolidayDataResponse,
  ImportIcsBody,
  ImportIcsResponse,
  LeaveMessageBody,
  LeaveMessageResponse,
  SetTeamCalendarBody,
  TeamCalendarSchema,
  TeamParams,
  UpdateCalendarBody,
  WidgetHoursQuery,
  WidgetHoursResponse,
  YearParams,
} from './business-hours.schemas.ts';

const BASE = '/api/v1/business-hours';

export const businessHoursRoutes: FastifyPluginAsyncTypebox<{
  businessHours: BusinessHoursService;
  /** The visitor of a widget request (bearer visitor token), or 401. */
  authenticateVisitor: (token: string | undefined) => Promise<VisitorIdentity>;
}> = async (app, { businessHours, authenticateVisitor }) => {
  const withNotFound = { ...authErrors, 404: ErrorResponse } as const;

  app.get(
    `${BASE}/calendars`,
    {
      config: { access: 'business_hours.read' },
      schema: { response: { 200: Type.Object({ calendars: Type.Array(CalendarSchema) }), ...authErrors } },
    },
    async (request) => ({ calendars: await businessHours.listCalendars(actorOf(request)) }),
  );

  app.post(
    `${BASE}/calendars`,
    {
      config: { access: 'business_hours.manage' },
      schema: {
        body: CreateCalendarBody,
        response: { 201: CalendarSchema, ...authErrors, 409: ErrorResponse },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await businessHours.createCalendar(actorOf(request), request.body)),
  );

  app.get(
    `${BASE}/calendars/:id`,
    {
      config: { access: 'business_hours.read' },
      schema: { params: IdParams, response: { 200: CalendarSchema, ...withNotFound } },
    },
    async (request) => businessHours.getCalendar(actorOf(request), request.params.id),
  );

  app.patch(
    `${BASE}/calendars/:id`,
    {
      config: { access: 'business_hours.manage' },
      schema: {
        params: IdParams,
        body: UpdateCalendarBody,
        response: { 200: CalendarSchema, ...withNotFound, 409: ErrorResponse },
      },
    },
    async (request) => businessHours.updateCalendar(actorOf(request), request.params.id, request.body),
  );

  app.delete(
    `${BASE}/calendars/:id`,
    {
      config: { access: 'business_hours.manage' },
      schema: { params: IdParams, response: { 204: Type.Null(), ...withNotFound, 409: ErrorResponse } },
    },
    async (request, reply) => {
      await businessHours.deleteCalendar(actorOf(request), request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.post(
    `${BASE}/calendars/:id/prc-years/:year`,
    {
      config: { access: 'business_hours.manage' },
      schema: { params: YearParams, response: { 200: CalendarSchema, ...withNotFound } },
    },
    async (request) => businessHours.applyPrcYear(actorOf(request), request.params.id, request.params.year),
  );

  app.get(
    `${BASE}/calendars/:id/ics`,
    {
      config: { access: 'business_hours.read' },
      schema: { params: IdParams, response: { 200: Type.String(), ...withNotFound } },
    },
    async (request, reply) => {
      const file = await businessHours.exportIcs(actorOf(request), request.params.id);
      return reply
        .header('content-type', 'text/calendar; charset=utf-8')
        .header('content-disposition', `attachment; filename*=UTF-8''${encodeURIComponent(file.fileName)}`)
        .send(file.text);
    },
  );

  app.post(
    `${BASE}/calendars/:id/ics`,
    {
      config: { access: 'business_hours.manage' },
      schema: {
        params: IdParams,
        body: ImportIcsBody,
        response: { 200: ImportIcsResponse, ...withNotFound },
      },
    },
    async (request) => businessHours.importIcs(actorOf(request), request.params.id, request.body),
  );

  app.get(
    `${BASE}/holiday-data`,
    {
      config: { access: 'business_hours.read' },
      schema: { response: { 200: HolidayDataResponse, ...authErrors } },
    },
    async (request) => businessHours.holidayDataInfo(actorOf(request)),
  );

  app.get(
    `${BASE}/teams`,
    {
      config: { access: 'business_hours.read' },
      schema: { response: { 200: Type.Object({ teams: Type.Array(TeamCalendarSchema) }), ...authErrors } },
    },
    async (request) => ({ teams: await businessHours.listTeamCalendars(actorOf(request)) }),
  );

  app.put(
    `${BASE}/teams/:teamId`,
    {
      config: { access: 'business_hours.manage' },
      schema: {
        params: TeamParams,
        body: SetTeamCalendarBody,
        response: {
          200: Type.Object({ teamId: Type.String(), calendarId: Type.Union([Type.String(), Type.Null()]) }),
          ...withNotFound,
        },
      },
    },
    async (request) =>
      businessHours.setTeamCalendar(actorOf(request), request.params.teamId, request.body.calendarId),
  );

  // ---------------------------------------------------------------- the widget (visitor token)

  const visitorOf = (request: FastifyRequest) => {
    const h = request.headers.authorization;
    return authenticateVisitor(
      typeof h === 'string' && h.startsWith('Bearer ') ? h.slice(7).trim() : undefined,
    );
  };
  const visitorErrors = { 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse } as const;

  // Open like the widget's config: the frame asks before any visitor session exists.
  app.get(
    '/api/v1/widget/hours',
    {
      config: { access: 'public' },
      schema: { querystring: WidgetHoursQuery, response: { 200: WidgetHoursResponse, ...visitorErrors } },
    },
    async (request) => businessHours.siteHours(request.query.site),
  );

  app.post(
    '/api/v1/widget/leave-message',
    {
      config: { access: 'public', rateLimit: 'public' },
      schema: {
        body: LeaveMessageBody,
        response: { 200: LeaveMessageResponse, ...visitorErrors, 409: ErrorResponse, 429: ErrorResponse },
      },
    },
    async (request) => businessHours.leaveMessage(await visitorOf(request), request.body),
  );
};
