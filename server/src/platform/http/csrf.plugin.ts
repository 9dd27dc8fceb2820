// CSRF defence in depth. The session cookie is SameSite=Strict already; on top of that every
// state-changing request that carries the session cookie (and every sign-in) must come from
// the console's own origin: PARLEY_PUBLIC_URL, or the very host the request was sent to (a
// browser on another site cannot choose the Host of its request). Browsers send Origin on such requests and Sec-Fetch-Site
// everywhere current; a request with neither is not from a browser page (curl, scripts),
// which a cross-site attacker cannot make carry the victim's cookie.
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ForbiddenError } from '../errors.ts';
import { SESSION_COOKIE } from './auth.plugin.ts';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

export const csrfPlugin = fp(async (app: FastifyInstance, opts: { allowedOrigins: readonly string[] }) => {
  const allowed = new Set(opts.allowedOrigins.map((o) => new URL(o).origin));
  app.addHook('onRequest', async (request) => {
    if (SAFE.has(request.method)) return;
    const hasCookie = request.cookies[SESSION_COOKIE] !== undefined;
    if (!hasCookie && !request.routeOptions.config.consoleLogin) return;
    const origin = request.headers.origin;
    if (typeof origin === 'string' && origin !== 'null') {
      if (allowed.has(origin)) return;
      if (URL.canParse(origin) && new URL(origin).host === request.host) return;
      throw new ForbiddenError(`Cross-origin request refused (Origin ${origin}).`, 'cross_origin');
    }
    if (origin === 'null')
      throw new ForbiddenError('Cross-origin request refused (opaque origin).', 'cross_origin');
    const site = request.headers['sec-fetch-site'];
    if (site === 'cross-site' || site === 'same-site') {
      throw new ForbiddenError('Cross-origin request refused (Sec-Fetch-Site).', 'cross_origin');
    }
  });
});
