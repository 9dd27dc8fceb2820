// The visitor widget over HTTP:
//   GET /widget.js               the loader customers embed (any origin may load it)
//   GET /widget/frame            the chat page inside the iframe; its CSP frame-ancestors names
//                                the embedding origin, and only when the site allows it
//   GET /widget/assets/:file     hashed chat assets (immutable)
//   GET /demo, /widget/demo/:file  a sample company site embedding the snippet
//   GET /api/v1/widget/config    public look of a site's widget
//   POST /api/v1/widget/profile  the pre-chat form (visitor token)
//   GET|PATCH /api/v1/channels/:id/widget  admins: widget settings and the snippet
//   POST /api/v1/channels          admins: a new web-widget channel (another website)
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { NotFoundError } from '../../platform/errors.ts';
import { actorOf } from '../../platform/http/auth.plugin.ts';
import { authErrors, ErrorResponse, IdParams } from '../../platform/http/schemas.ts';
import type { ConversationsService } from '../conversations/conversations.service.ts';
import type { WidgetService } from './widget.service.ts';
import {
  FrameQuery,
  PublicWidgetConfig,
  SiteQuery,
  VisitorProfileBody,
  VisitorProfileResponse,
  CreateWidgetChannelBody,
  WidgetSettingsPatch,
  WidgetSettingsResponse,
} from './widget.schemas.ts';

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.html': 'text/html; charset=utf-8',
};
const SAFE_FILE = /^[\w-]+(\.[\w-]+)*\.(js|css|svg|png)$/;

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The chat frame's policy: its own files only, framed by exactly one checked origin. */
export function frameCsp(ancestor: string | null): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' blob: data:",
    "connect-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    `frame-ancestors ${ancestor ?? "'none'"}`,
  ].join('; ');
}

export const widgetPublicRoutes: FastifyPluginAsyncTypebox<{
  widget: WidgetService;
  conversations: Pick<ConversationsService, 'authenticateVisitor'>;
  root: string;
}> = async (app, { widget, conversations, root }) => {
  const notBuilt = (reply: FastifyReply) =>
    reply
      .status(503)
      .type('text/plain; charset=utf-8')
      .send(`The visitor widget is not built (no ${root}/frame.html). Run "make build".`);

  /** A built file, or null. Read per request (small files), so a rebuild needs no restart. */
  async function builtFile(rel: string): Promise<Buffer | null> {
    const file = path.resolve(root, rel);
    if (!file.startsWith(root + path.sep)) return null;
    try {
      return await readFile(file);
    } catch {
      return null;
    }
  }

  async function sendStatic(reply: FastifyReply, rel: string, immutable: boolean) {
    const data = await builtFile(rel);
    if (!data) throw new NotFoundError('file');
    return reply
      .type(TYPES[path.extname(rel)] ?? 'application/octet-stream')
      .header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'public, max-age=300')
      .header('cross-origin-resource-policy', 'cross-origin')
      .send(data);
  }

  app.get('/widget.js', { config: { access: 'public' }, logLevel: 'warn' }, async (_request, reply) => {
    if (!(await builtFile('frame.html'))) return notBuilt(reply);
    // Any customer page loads this with a plain <script>: not hashed, so cached only briefly.
    return sendStatic(reply, 'widget.js', false);
  });

  app.get(
    '/widget/assets/:file',
    {
      config: { access: 'public' },
      logLevel: 'warn',
      schema: { params: Type.Object({ file: Type.String({ pattern: SAFE_FILE.source }) }) },
    },
    async (request, reply) => sendStatic(reply, `assets/${request.params.file}`, true),
  );

  app.get(
    '/widget/demo/:file',
    {
      config: { access: 'public' },
      logLevel: 'warn',
      schema: { params: Type.Object({ file: Type.String({ pattern: SAFE_FILE.source }) }) },
    },
    async (request, reply) => sendStatic(reply, `demo/${request.params.file}`, false),
  );

  app.get(
    '/widget/frame',
    { config: { access: 'public' }, schema: { querystring: FrameQuery } },
    async (request, reply) => {
      const html = await builtFile('frame.html');
      if (!html) return notBuilt(reply);
      const { site, origin } = request.query;
      const allowed = await widget.embeddingAllowed(site, origin);
      // The app-wide policy forbids framing; this page is the one place that is meant to be
      // framed, by exactly the origin the loader named, if the site lists it.
      void reply.removeHeader('x-frame-options');
      void reply.header('content-security-policy', frameCsp(allowed ? origin : null));
      void reply.header('cache-control', 'no-store');
      void reply.header('referrer-policy', 'no-referrer');
      if (!allowed) {
        return reply
          .status(403)
          .type('text/html; charset=utf-8')
          .send(
            `<!doctype html><meta charset="utf-8"><title>Parley</title><p>This site may not embed this chat (origin ${escapeHtml(origin)} is not allowed).</p>`,
          );
      }
      return reply.type('text/html; charset=utf-8').send(html);
    },
  );

  app.get('/demo', { config: { access: 'public' } }, async (_request: FastifyRequest, reply) => {
    const template = await builtFile('demo/index.html');
    if (!template) return notBuilt(reply);
    const siteKey = await widget.defaultSiteKey();
    const parley = widget.publicOrigin;
    const html = template
      .toString('utf8')
      .replaceAll('{{SITE_KEY}}', escapeHtml(siteKey))
      .replaceAll('{{PARLEY_ORIGIN}}', escapeHtml(parley));
    void reply.header(
      'content-security-policy',
      [
        "default-src 'self'",
        `script-src 'self' ${parley}`,
        `frame-src ${parley}`,
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
      ].join('; '),
    );
    void reply.header('cache-control', 'no-cache');
    return reply.type('text/html; charset=utf-8').send(html);
  });

  app.get(
    '/api/v1/widget/config',
    {
      config: { access: 'public' },
      schema: {
        querystring: SiteQuery,
        response: { 200: PublicWidgetConfig, 400: ErrorResponse, 404: ErrorResponse },
      },
    },
    async (request) => widget.publicConfig(request.query.site),
  );

  app.post(
    '/api/v1/widget/profile',
    {
      config: { access: 'public', rateLimit: 'public' },
      schema: {
        body: VisitorProfileBody,
        response: {
          200: VisitorProfileResponse,
          400: ErrorResponse,
          401: ErrorResponse,
          404: ErrorResponse,
          429: ErrorResponse,
        },
      },
    },
    async (request) => {
      const h = request.headers.authorization;
      const token = typeof h === 'string' && h.startsWith('Bearer ') ? h.slice(7).trim() : undefined;
      const visitor = await conversations.authenticateVisitor(token);
      return widget.setVisitorProfile(visitor, request.body);
    },
  );

  app.get(
    '/api/v1/channels/:id/widget',
    {
      config: { access: 'channels.manage' },
      schema: {
        params: IdParams,
        response: { 200: WidgetSettingsResponse, ...authErrors, 404: ErrorResponse },
      },
    },
    async (request) => widget.getSettings(actorOf(request), request.params.id),
  );

  app.patch(
    '/api/v1/channels/:id/widget',
    {
      config: { access: 'channels.manage' },
      schema: {
        params: IdParams,
        body: WidgetSettingsPatch,
        response: { 200: WidgetSettingsResponse, ...authErrors, 404: ErrorResponse },
      },
    },
    async (request) => widget.updateSettings(actorOf(request), request.params.id, request.body),
  );

  app.post(
    '/api/v1/channels',
    {
      config: { access: 'channels.manage' },
      schema: {
        body: CreateWidgetChannelBody,
        response: { 201: WidgetSettingsResponse, ...authErrors },
      },
    },
    async (request, reply) => {
      const created = await widget.createChannel(actorOf(request), request.body);
      return reply.status(201).send(created);
    },
  );
};
