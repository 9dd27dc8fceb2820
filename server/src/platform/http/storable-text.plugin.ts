// Text PostgreSQL cannot store (U+0000, an unpaired UTF-16 surrogate; realtime/text-rules.ts) is
// refused before any route runs: 400 naming the field, nothing changed. Without this a NUL in
// any JSON field or query parameter reached the database and came back as a 500, which clients
// take for "try again later" and resend forever; a lone surrogate was silently replaced.
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { findUnstorable } from '../../realtime/text-rules.ts';
import { BadRequestError } from '../errors.ts';

export const storableTextPlugin = fp(async (app: FastifyInstance) => {
  app.addHook('preValidation', async (request) => {
    const found =
      findUnstorable(request.body) ?? findUnstorable(request.query) ?? findUnstorable(request.params);
    if (found) {
      const field = found.field || 'body';
      throw new BadRequestError(`${field}: contains ${found.what}, which cannot be stored`, field);
    }
  });
});
