import pino from 'pino';
import type { LogLevel } from '../config/config.ts';

/**
 * Paths whose values never reach the logs: credentials, cookies, tokens and personal data.
 * Fastify's request serializer only logs method/url/ids, but handlers may log objects.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.password',
  '*.newPassword',
  '*.currentPassword',
  '*.token',
  '*.secret',
  '*.databaseUrl',
  '*.phone',
  '*.email',
  '*.displayName',
  '*.realName',
  'password',
  'token',
  'databaseUrl',
];

export function createLogger(level: LogLevel, destination?: pino.DestinationStream): pino.Logger {
  return pino(
    {
      level,
      base: { service: 'parley' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** Remove the password from a connection URL before it is shown anywhere. */
export function describeDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}
