import pino from 'pino';
import type { Config, LogLevel } from '../config/config.ts';

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

export type LogFormat = 'json' | 'pretty';

/** PARLEY_LOG_FORMAT=auto: readable on a terminal, JSON for everything that collects logs. */
export function logFormatFor(setting: Config['logFormat'], stdoutIsTty: boolean): LogFormat {
  return setting === 'auto' ? (stdoutIsTty ? 'pretty' : 'json') : setting;
}

/** PARLEY_LOG_REQUESTS=auto: off on the embedded PostgreSQL (the trial), on in production. */
export function logsRequests(config: Pick<Config, 'logRequests' | 'databaseUrl'>): boolean {
  return config.logRequests === 'auto' ? config.databaseUrl !== undefined : config.logRequests === 'on';
}

const LEVEL_STYLE: Record<string, [label: string, color: number]> = {
  trace: ['TRACE', 90],
  debug: ['DEBUG', 36],
  info: ['INFO ', 32],
  warn: ['WARN ', 33],
  error: ['ERROR', 31],
  fatal: ['FATAL', 35],
};
const OMITTED = new Set(['level', 'time', 'msg', 'service', 'pid', 'hostname', 'err']);

/**
 * One readable line per record for a person at a terminal: "12:04:05 INFO  message key=value",
 * the error's stack below it. Built in (not pino-pretty, a development dependency that the
 * container image and the offline bundle do not install), so it works wherever Parley runs.
 */
export function formatPretty(record: Record<string, unknown>, color: boolean): string {
  const [label, code] = LEVEL_STYLE[String(record.level)] ?? [String(record.level).toUpperCase(), 0];
  const time = typeof record.time === 'string' ? record.time.slice(11, 19) : '';
  const paint = (s: string, c: number) => (color && c ? `\x1b[${c}m${s}\x1b[0m` : s);
  const fields = Object.entries(record)
    .filter(([k, v]) => !OMITTED.has(k) && v !== undefined)
    .map(([k, v]) => `${paint(k, 90)}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  let line = `${paint(time, 90)} ${paint(label, code)} ${typeof record.msg === 'string' ? record.msg : ''}`;
  if (fields.length) line += `  ${fields.join(' ')}`;
  const err = record.err as { stack?: string; message?: string } | undefined;
  if (err) line += `\n${err.stack ?? err.message ?? JSON.stringify(err)}`;
  return `${line}\n`;
}

/** A pino destination that writes readable lines to `out` instead of JSON. */
export function prettyDestination(out: NodeJS.WriteStream): pino.DestinationStream {
  const color = out.isTTY === true && out.hasColors(); // hasColors honours NO_COLOR
  return {
    write(json: string) {
      for (const line of json.split('\n')) {
        if (!line) continue;
        try {
          out.write(formatPretty(JSON.parse(line) as Record<string, unknown>, color));
        } catch {
          out.write(`${line}\n`);
        }
      }
    },
  };
}

export function createLogger(
  level: LogLevel,
  destination?: pino.DestinationStream,
  format: LogFormat = 'json',
): pino.Logger {
  return pino(
    {
      level,
      base: { service: 'parley' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? (format === 'pretty' ? prettyDestination(process.stdout) : undefined),
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
