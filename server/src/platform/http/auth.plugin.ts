// Every route declares `config.access`: a permission, 'authenticated' or 'public'. This global
// onRequest hook enforces it before the body is even read (and before a WebSocket upgrade).
// A route without a declaration is refused at start-up, and a test walks the table too.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ForbiddenError, UnauthorizedError } from '../errors.ts';
import type { IdentityService } from '../../modules/identity/identity.service.ts';
import { roleHas, type Actor, type RouteAccess } from '../../modules/identity/permissions.ts';

export const SESSION_COOKIE = 'parley_session';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
    /** A public route of the console sign-in: the console IP allow-list applies to it. */
    consoleLogin?: boolean;
    /** Reachable while security policy still requires the user to set up 2FA. */
    mfaEnrollment?: boolean;
    /** Per-IP rate limit (PUBLIC_RATE_LIMIT_PER_MINUTE) for public endpoints. */
    rateLimit?: 'public';
  }
  interface FastifyRequest {
    actor: Actor | null;
  }
  interface FastifyInstance {
    /** Every route registered, with what it requires (for the route-table test and docs). */
    routeAccessTable: { method: string; url: string; access: RouteAccess | undefined }[];
  }
}

export function clientOf(request: FastifyRequest) {
  const ua = request.headers['user-agent'];
  return { ip: request.ip ?? null, userAgent: typeof ua === 'string' ? ua.slice(0, 512) : null };
}

/** The signed-in actor; routes whose access is not 'public' always have one. */
export function actorOf(request: FastifyRequest): Actor {
  if (!request.actor) throw new UnauthorizedError();
  return request.actor;
}

export class IpNotAllowedError extends ForbiddenError {
  constructor() {
    super('The console cannot be used from this network address.', 'ip_not_allowed');
  }
}

export const authPlugin = fp(
  async (
    app: FastifyInstance,
    opts: {
      identity: Pick<IdentityService, 'authenticate'>;
      /** The console IP allow-list (security settings). */
      consoleAllows: (ip: string | null) => Promise<boolean>;
      /** Audits a sign-in attempt from an address outside the allow-list. */
      onRefusedSignIn: (client: { ip: string | null; userAgent: string | null }) => Promise<void>;
    },
  ) => {
    app.decorateRequest('actor', null);
    app.decorate('routeAccessTable', []);

    app.addHook('onRoute', (route) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      for (const method of methods) {
        if (method === 'HEAD') continue; // Fastify's automatic HEAD routes mirror their GET
        app.routeAccessTable.push({ method, url: route.url, access: route.config?.access });
      }
    });

    app.addHook('onRequest', async (request) => {
      const { access, consoleLogin, mfaEnrollment } = request.routeOptions.config;
      if (access === 'public') {
        if (consoleLogin && !(await opts.consoleAllows(request.ip))) {
          await opts.onRefusedSignIn(clientOf(request));
          throw new IpNotAllowedError();
        }
        return;
      }
      // No matched route (404 handler) has no access declaration and nothing to protect.
      if (request.routeOptions.url === undefined) return;
      if (access === undefined) {
        throw new Error(`route ${request.method} ${request.routeOptions.url} declares no access`);
      }
      const token = request.cookies[SESSION_COOKIE];
      const actor = token ? await opts.identity.authenticate(token, clientOf(request)) : null;
      if (!actor)
        throw new UnauthorizedError(token ? 'Your session has ended. Sign in again.' : 'Sign in first.');
      if (!(await opts.consoleAllows(request.ip))) throw new IpNotAllowedError();
      request.actor = actor;
      if (actor.mfaEnrollmentRequired && !mfaEnrollment) {
        throw new ForbiddenError(
          'Set up two-factor sign-in first (required for your role).',
          'mfa_enrollment_required',
        );
      }
      if (access !== 'authenticated' && !roleHas(actor.role, access)) throw new ForbiddenError();
    });
  },
);
