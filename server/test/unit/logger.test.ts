// Log format and request logging: readable lines on a terminal, JSON for collectors; request
// logs off on the embedded trial unless asked for.
import { describe, expect, it } from 'vitest';
import { formatPretty, logFormatFor, logsRequests } from '../../src/platform/logger.ts';

describe('log format', () => {
  it('auto is pretty on a terminal and JSON otherwise; an explicit setting wins', () => {
    expect(logFormatFor('auto', true)).toBe('pretty');
    expect(logFormatFor('auto', false)).toBe('json');
    expect(logFormatFor('json', true)).toBe('json');
    expect(logFormatFor('pretty', false)).toBe('pretty');
  });

  it('request logs: auto means off on the embedded PostgreSQL, on with DATABASE_URL', () => {
    expect(logsRequests({ logRequests: 'auto', databaseUrl: undefined })).toBe(false);
    expect(logsRequests({ logRequests: 'auto', databaseUrl: 'postgres://db/parley' })).toBe(true);
    expect(logsRequests({ logRequests: 'on', databaseUrl: undefined })).toBe(true);
    expect(logsRequests({ logRequests: 'off', databaseUrl: 'postgres://db/parley' })).toBe(false);
  });

  it('a pretty line: time, level, message, then the fields; the error stack below', () => {
    const line = formatPretty(
      {
        level: 'warn',
        time: '2026-12-07T14:05:06.789Z',
        service: 'parley',
        pid: 1,
        hostname: 'h',
        msg: 'database not available yet',
        attempt: 2,
        reason: 'ECONNREFUSED',
      },
      false,
    );
    expect(line).toBe('14:05:06 WARN  database not available yet  attempt=2 reason=ECONNREFUSED\n');
    const withError = formatPretty(
      {
        level: 'error',
        time: '2026-12-07T14:05:06.789Z',
        msg: 'boom',
        err: { message: 'x', stack: 'Error: x\n    at y' },
      },
      false,
    );
    expect(withError).toBe('14:05:06 ERROR boom\nError: x\n    at y\n');
    expect(formatPretty({ level: 'info', time: '2026-12-07T14:05:06.789Z', msg: 'hi' }, true)).toContain(
      '\x1b[32m',
    );
  });
});
