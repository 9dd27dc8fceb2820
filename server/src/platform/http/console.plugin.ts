// Serves the built web console: hashed files under /assets/ are cached for a year, everything
// else revalidates, and unknown non-API paths fall back to index.html (client-side routing).
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import { NotFoundError } from '../errors.ts';

export async function consolePlugin(app: FastifyInstance, opts: { root: string }) {
  const root = opts.root;
  const built = existsSync(path.join(root, 'index.html'));
  await app.register(fastifyStatic, { root, serve: false });

  app.get('/*', { config: { access: 'public' }, logLevel: 'warn' }, async (request, reply) => {
    const urlPath = decodeURIComponent((request.params as { '*': string })['*'] ?? '');
    if (urlPath.startsWith('api/') || urlPath === 'api') throw new NotFoundError('API route');
    if (!built) {
      return reply
        .status(503)
        .type('text/plain; charset=utf-8')
        .send(`The web console is not built (no ${root}/index.html). Run "make build".`);
    }
    const file = path.resolve(root, urlPath);
    const inside = file.startsWith(root + path.sep);
    if (inside && existsSync(file) && statSync(file).isFile()) {
      const hashed = urlPath.startsWith('assets/');
      return reply.sendFile(path.relative(root, file), {
        immutable: hashed,
        maxAge: hashed ? 365 * 24 * 3600 * 1000 : 0,
        cacheControl: true,
      });
    }
    void reply.header('cache-control', 'no-cache');
    return reply.sendFile('index.html', { maxAge: 0 });
  });
}
