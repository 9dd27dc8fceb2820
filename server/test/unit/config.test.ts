import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import {
  ConfigError,
  loadConfig,
  readEnvironment,
  renderEnvExample,
  SETTINGS,
} from '../../src/config/config.ts';

describe('config', () => {
  it('uses documented defaults when nothing is set', () => {
    const c = loadConfig({});
    expect(c.databaseUrl).toBeUndefined();
    expect(c.port).toBe(8080);
    expect(c.timezone).toBe('Asia/Shanghai');
    expect(c.publicUrl).toBe('http://localhost:8080');
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('names every bad variable and what it expects', () => {
    let error: unknown;
    try {
      loadConfig({ PARLEY_PORT: 'eighty', DATABASE_URL: 'mysql://x/y', PARLEY_TIMEZONE: 'Mars/Olympus' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toContain('PARLEY_PORT: expected a whole number, got "eighty"');
    expect(problems).toContain('DATABASE_URL: expected a postgres:// URL');
    expect(problems).toContain('PARLEY_TIMEZONE: "Mars/Olympus" is not an IANA time zone');
  });

  it('rejects out-of-range numbers and bad booleans', () => {
    expect(() => loadConfig({ DATABASE_POOL_MAX: '0' })).toThrow(
      /DATABASE_POOL_MAX: expected a number from 2 to 500/,
    );
    expect(() => loadConfig({ PARLEY_TRUST_PROXY: 'maybe' })).toThrow(
      /PARLEY_TRUST_PROXY: expected true or false/,
    );
    expect(() => loadConfig({ DATABASE_URL: 'postgres://h:5432' })).toThrow(/must name a database/);
  });

  it('parley.env.example documents every variable and is up to date', () => {
    const file = readFileSync(path.resolve(import.meta.dirname, '../../../parley.env.example'), 'utf8');
    expect(file).toBe(renderEnvExample());
    for (const s of SETTINGS) expect(file).toContain(`# ${s.env}=`);
  });

  it('reads parley.env, with the environment taking precedence, and refuses unknown names in the file', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'parley-env-'));
    const file = path.join(dir, 'parley.env');
    writeFileSync(file, '# comment\nPARLEY_PORT=9090\nPARLEY_TIMEZONE=Asia/Hong_Kong\n');
    const c = loadConfig(readEnvironment({ PARLEY_PORT: '7070', HOME: '/root' }, file));
    expect(c.port).toBe(7070);
    expect(c.timezone).toBe('Asia/Hong_Kong');
    writeFileSync(file, 'PARLEY_PROT=9090\n');
    expect(() => readEnvironment({}, file)).toThrow(/PARLEY_PROT: not a Parley setting/);
  });
});
