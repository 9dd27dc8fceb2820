// Builds the Fastify app from a container. main.ts starts it; tests build it and call inject().
import { randomUUID } from 'node:crypto';
import Fastify, { LogController } from 'fastify';
import cookie from '@fastify/cookie';
import helmet from '@fastify/helmet';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Logger } from 'pino';
import type { Container } from './container.ts';
import { SESSION_COOKIE, authPlugin, clientOf } from './platform/http/auth.plugin.ts';
import { consolePlugin } from './platform/http/console.plugin.ts';
import { csrfPlugin } from './platform/http/csrf.plugin.ts';
import { storableTextPlugin } from './platform/http/storable-text.plugin.ts';
import { rateLimitPlugin } from './platform/http/rate-limit.plugin.ts';
import { securityRoutes } from './modules/security/security.routes.ts';
import { errorsPlugin } from './platform/http/errors.plugin.ts';
import { logsRequests } from './platform/logger.ts';
import { cannedRepliesRoutes } from './modules/canned-replies/canned-replies.routes.ts';
import { backupRoutes } from './modules/backup/backup.routes.ts';
import { auditRoutes } from './modules/audit/audit.routes.ts';
import { authRoutes } from './modules/identity/auth.routes.ts';
import { usersRoutes } from './modules/identity/users.routes.ts';
import { systemRoutes } from './modules/system/system.routes.ts';
import { teamsRoutes } from './modules/teams/teams.routes.ts';
import multipart from '@fastify/multipart';
import websocket from '@fastify/websocket';
import { contactsRoutes } from './modules/contacts/contacts.routes.ts';
import { conversationsRoutes } from './modules/conversations/conversations.routes.ts';
import { availabilityRoutes } from './modules/availability/availability.routes.ts';
import { routingQueueRoutes } from './modules/routing/routing-queue.routes.ts';
import { routingRulesRoutes } from './modules/routing/routing-rules.routes.ts';
import { widgetRoutes } from './modules/conversations/widget.routes.ts';
import { realtimeRoutes } from './realtime/ws.routes.ts';
import { maxFrameBytes } from './realtime/text-rules.ts';
import { widgetPublicRoutes } from './modules/widget/widget.routes.ts';
import { businessHoursRoutes } from './modules/business-hours/business-hours.routes.ts';
import { knowledgeRoutes } from './modules/knowledge/knowledge.routes.ts';

export async function buildApp(container: Container, opts: { logger: Logger }) {
  const { config } = container;
  const app = Fastify({
    loggerInstance: opts.logger,
    // PARLEY_LOG_REQUESTS (auto: none on the embedded trial, where they would bury the login).
    logController: new LogController({ disableRequestLogging: !logsRequests(config) }),
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w-]{8,64}$/.test(given) ? given : randomUUID();
    },
    trustProxy: config.trustProxy,
    bodyLimit: 1024 * 1024,
    requestTimeout: 30_000,
    return503OnClosing: true,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    container.metrics.httpRequests.inc({ method: request.method, route, status: String(reply.statusCode) });
    container.metrics.httpDuration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });

  await app.register(errorsPlugin);
  await app.register(cookie);
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        'default-src': ["'self'"],
        'script-src': ["'self'"],
        // Element Plus positions popovers with inline styles.
        'style-src': ["'self'", "'unsafe-inline'"],
        'img-src': ["'self'", 'data:', 'blob:'],
        'font-src': ["'self'", 'data:'],
        'connect-src': ["'self'"],
        'object-src': ["'none'"],
        'base-uri': ["'none'"],
        'form-action': ["'self'"],
        'frame-ancestors': ["'none'"],
      },
    },
    crossOriginEmbedderPolicy: false,
    hsts: config.publicUrl.startsWith('https://'),
  });
  // Before the auth hook: @fastify/websocket's own onRequest hook must see every upgrade first,
  // so a refused upgrade (401/403) is answered and its socket closed, not left open.
  // Largest frame: a maximal text message written as \u-escaped JSON, or a full resume frame.
  await app.register(websocket, { options: { maxPayload: maxFrameBytes(config.messageMaxChars) } });
  // Rate limit first (before any database work), then who is asking, then where from.
  await app.register(rateLimitPlugin, { perMinute: config.publicRateLimitPerMinute });
  await app.register(authPlugin, {
    identity: container.identity,
    consoleAllows: (ip) => container.security.consoleAllows(ip),
    onRefusedSignIn: (client) => container.security.recordRefusedSignIn(client),
  });
  await app.register(csrfPlugin, { allowedOrigins: [config.publicUrl] });
  await app.register(storableTextPlugin);

  await app.register(systemRoutes, {
    health: container.health,
    metrics: container.metrics,
    metricsToken: config.metricsToken,
  });
  await app.register(authRoutes, {
    identity: container.identity,
    passwordLogin: container.identity,
    secureCookies: config.publicUrl.startsWith('https://'),
  });
  await app.register(usersRoutes, { identity: container.identity });
  await app.register(teamsRoutes, { teams: container.teams });
  await app.register(multipart, {
    limits: { fileSize: config.attachmentMaxBytes, files: 1, fields: 10, parts: 11 },
    throwFileSizeLimit: true,
  });
  await app.register(contactsRoutes, { contacts: container.contacts });
  await app.register(conversationsRoutes, { conversations: container.conversations });
  await app.register(availabilityRoutes, { availability: container.availability });
  await app.register(routingQueueRoutes, { routingQueue: container.routingQueue });
  await app.register(routingRulesRoutes, { routingRules: container.routingRules });
  await app.register(widgetRoutes, { conversations: container.conversations });
  await app.register(async (scope) =>
    realtimeRoutes(scope, {
      conversations: container.conversations,
      hub: container.hub,
      bus: container.bus,
      settings: config,
      sessionLive: async (request) => {
        const token = request.cookies[SESSION_COOKIE];
        return token ? (await container.identity.authenticate(token, clientOf(request))) !== null : false;
      },
    }),
  );
  await app.register(widgetPublicRoutes, {
    widget: container.widget,
    conversations: container.conversations,
    root: config.widgetDir,
  });
  await app.register(businessHoursRoutes, {
    businessHours: container.businessHours,
    authenticateVisitor: (token) => container.conversations.authenticateVisitor(token),
  });
  await app.register(cannedRepliesRoutes, { cannedReplies: container.cannedReplies });
  await app.register(knowledgeRoutes, {
    knowledge: container.knowledge,
    knowledgeImport: container.knowledgeImport,
  });
  await app.register(backupRoutes, { backup: container.backup });
  await app.register(auditRoutes, { audit: container.audit });
  await app.register(securityRoutes, { security: container.security });
  await app.register(consolePlugin, { root: config.consoleDir });

  app.addHook('onClose', async () => container.hub.close());
  app.addHook('onReady', async () => {
    const undeclared = app.routeAccessTable.filter((r) => r.access === undefined);
    if (undeclared.length > 0) {
      throw new Error(
        `routes without an access declaration: ${undeclared.map((r) => `${r.method} ${r.url}`).join(', ')}`,
      );
    }
  });
  return app;
}

export type App = Awaited<ReturnType<typeof buildApp>>;
