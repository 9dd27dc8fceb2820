// The only module that reads process.env. Every setting is declared once in SETTINGS:
// its variable, what it means, its default and how it is parsed. `loadConfig` validates all
// of them at start-up and reports every bad value at once, naming the variable.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  /** Customer's PostgreSQL; undefined means "start the embedded one". */
  databaseUrl: string | undefined;
  databasePoolMax: number;
  databaseConnectTimeoutMs: number;
  host: string;
  port: number;
  publicUrl: string;
  dataDir: string;
  embeddedPostgresPort: number | undefined;
  logLevel: LogLevel;
  timezone: string;
  migrateOnStart: boolean;
  trustProxy: boolean;
  sessionIdleMinutes: number;
  sessionAbsoluteHours: number;
  loginMaxAttemptsPerAccount: number;
  loginMaxAttemptsPerIp: number;
  loginLockoutBaseSeconds: number;
  loginLockoutMaxSeconds: number;
  shutdownTimeoutSeconds: number;
  metricsToken: string | undefined;
  initialAdminPassword: string | undefined;
  consoleDir: string;
  visitorTokenSecret: string | undefined;
  messageMaxChars: number;
  attachmentMaxBytes: number;
  wsFramesPerSecond: number;
  wsFramesBurst: number;
  wsMaxConnectionsPerIp: number;
  wsIpFramesPerSecond: number;
  realtimeCatchUpSeconds: number;
}

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

type Parser<T> = (raw: string) => T;
interface Setting<K extends keyof Config> {
  key: K;
  env: string;
  describe: string;
  /** Default as it would be written in parley.env; undefined = optional with no default. */
  default: string | undefined;
  parse: Parser<Config[K]>;
  secret?: boolean;
  example?: string;
}

class Invalid extends Error {}

const integer =
  (min: number, max: number): Parser<number> =>
  (raw) => {
    if (!/^-?\d+$/.test(raw.trim())) throw new Invalid(`expected a whole number, got "${raw}"`);
    const n = Number(raw);
    if (n < min || n > max) throw new Invalid(`expected a number from ${min} to ${max}, got ${n}`);
    return n;
  };
const boolean: Parser<boolean> = (raw) => {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new Invalid(`expected true or false, got "${raw}"`);
};
const text: Parser<string> = (raw) => {
  if (raw.trim() === '') throw new Invalid('must not be empty');
  return raw.trim();
};
const optionalText: Parser<string | undefined> = (raw) => (raw.trim() === '' ? undefined : raw.trim());
const oneOf =
  <T extends string>(values: readonly T[]): Parser<T> =>
  (raw) => {
    const v = raw.trim() as T;
    if (!values.includes(v)) throw new Invalid(`expected one of ${values.join(', ')}, got "${raw}"`);
    return v;
  };
const postgresUrl: Parser<string | undefined> = (raw) => {
  if (raw.trim() === '') return undefined;
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new Invalid('expected a URL like postgres://user:password@host:5432/parley');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new Invalid(`expected a postgres:// URL, got the scheme "${url.protocol}"`);
  }
  if (url.pathname.length <= 1) throw new Invalid('the URL must name a database, e.g. .../parley');
  return raw.trim();
};
const httpUrl: Parser<string> = (raw) => {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new Invalid(`expected a URL like https://parley.example.com, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Invalid('expected http:// or https://');
  return url.origin + url.pathname.replace(/\/+$/, '');
};
const timezone: Parser<string> = (raw) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: raw.trim() });
  } catch {
    throw new Invalid(`"${raw}" is not an IANA time zone such as Asia/Shanghai`);
  }
  return raw.trim();
};

function setting<K extends keyof Config>(s: Setting<K>): Setting<K> {
  return s;
}

/** Every variable Parley reads, in the order parley.env.example lists them. */
export const SETTINGS = [
  setting({
    key: 'databaseUrl',
    env: 'DATABASE_URL',
    describe:
      'PostgreSQL 13+ connection URL (the production setting). Empty: Parley starts an embedded PostgreSQL 15 under PARLEY_DATA_DIR, for trying it out only.',
    default: undefined,
    parse: postgresUrl,
    secret: true,
    example: 'postgres://parley:secret@db.internal:5432/parley',
  }),
  setting({
    key: 'databasePoolMax',
    env: 'DATABASE_POOL_MAX',
    describe: 'Maximum connections this process opens to PostgreSQL.',
    default: '20',
    parse: integer(2, 500),
  }),
  setting({
    key: 'databaseConnectTimeoutMs',
    env: 'DATABASE_CONNECT_TIMEOUT_MS',
    describe: 'How long to wait for a new database connection before treating the database as unreachable.',
    default: '5000',
    parse: integer(100, 120000),
  }),
  setting({
    key: 'host',
    env: 'PARLEY_HOST',
    describe: 'Address the HTTP server listens on.',
    default: '0.0.0.0',
    parse: text,
  }),
  setting({
    key: 'port',
    env: 'PARLEY_PORT',
    describe: 'Port the HTTP server (API, WebSocket, console) listens on. 0 picks a free port.',
    default: '8080',
    parse: integer(0, 65535),
  }),
  setting({
    key: 'publicUrl',
    env: 'PARLEY_PUBLIC_URL',
    describe:
      'The URL people use to reach Parley (console links, cookies marked Secure when https). Default: http://localhost:PARLEY_PORT.',
    default: undefined,
    parse: httpUrl,
    example: 'https://parley.example.com',
  }),
  setting({
    key: 'dataDir',
    env: 'PARLEY_DATA_DIR',
    describe: 'Directory for local state: the embedded PostgreSQL, backups by default.',
    default: './data',
    parse: (raw) => path.resolve(text(raw)),
  }),
  setting({
    key: 'embeddedPostgresPort',
    env: 'PARLEY_EMBEDDED_PG_PORT',
    describe: 'Port for the embedded PostgreSQL (only without DATABASE_URL). Empty: a free port.',
    default: undefined,
    parse: (raw) => (raw.trim() === '' ? undefined : integer(1024, 65535)(raw)),
  }),
  setting({
    key: 'logLevel',
    env: 'PARLEY_LOG_LEVEL',
    describe: 'Log level: fatal, error, warn, info, debug, trace or silent. Logs are JSON lines on stdout.',
    default: 'info',
    parse: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
  }),
  setting({
    key: 'timezone',
    env: 'PARLEY_TIMEZONE',
    describe: 'Time zone for business hours, schedules and reports (IANA name).',
    default: 'Asia/Shanghai',
    parse: timezone,
  }),
  setting({
    key: 'migrateOnStart',
    env: 'PARLEY_MIGRATE_ON_START',
    describe:
      'Apply pending migrations when `parley serve` starts. Set false where a separate migrator runs them (the Helm chart does); the server then waits until the schema is current.',
    default: 'true',
    parse: boolean,
  }),
  setting({
    key: 'trustProxy',
    env: 'PARLEY_TRUST_PROXY',
    describe:
      'Trust X-Forwarded-For from a reverse proxy or load balancer to learn client IPs (for lockout and audit). Only enable behind a proxy.',
    default: 'false',
    parse: boolean,
  }),
  setting({
    key: 'sessionIdleMinutes',
    env: 'SESSION_IDLE_MINUTES',
    describe: 'A console session ends after this many minutes without a request.',
    default: '120',
    parse: integer(5, 7 * 24 * 60),
  }),
  setting({
    key: 'sessionAbsoluteHours',
    env: 'SESSION_ABSOLUTE_HOURS',
    describe: 'A console session ends this many hours after login, whatever the activity.',
    default: '12',
    parse: integer(1, 24 * 30),
  }),
  setting({
    key: 'loginMaxAttemptsPerAccount',
    env: 'LOGIN_MAX_ATTEMPTS_PER_ACCOUNT',
    describe:
      'Failed logins allowed for one account before it is locked for a while (the lock doubles each time).',
    default: '5',
    parse: integer(1, 100),
  }),
  setting({
    key: 'loginMaxAttemptsPerIp',
    env: 'LOGIN_MAX_ATTEMPTS_PER_IP',
    describe:
      'Failed logins allowed from one IP address (any account) before that address is locked for a while.',
    default: '20',
    parse: integer(1, 10000),
  }),
  setting({
    key: 'loginLockoutBaseSeconds',
    env: 'LOGIN_LOCKOUT_BASE_SECONDS',
    describe: 'Length of the first lockout; each further failure while over the limit doubles it.',
    default: '60',
    parse: integer(1, 86400),
  }),
  setting({
    key: 'loginLockoutMaxSeconds',
    env: 'LOGIN_LOCKOUT_MAX_SECONDS',
    describe: 'Longest lockout.',
    default: '3600',
    parse: integer(1, 7 * 86400),
  }),
  setting({
    key: 'shutdownTimeoutSeconds',
    env: 'PARLEY_SHUTDOWN_TIMEOUT_SECONDS',
    describe: 'On SIGTERM, how long to wait for in-flight work before exiting anyway.',
    default: '10',
    parse: integer(1, 600),
  }),
  setting({
    key: 'metricsToken',
    env: 'PARLEY_METRICS_TOKEN',
    describe:
      'If set, /metrics requires "Authorization: Bearer <token>". Empty: /metrics is open (restrict it at the network).',
    default: undefined,
    parse: optionalText,
    secret: true,
  }),
  setting({
    key: 'initialAdminPassword',
    env: 'PARLEY_INITIAL_ADMIN_PASSWORD',
    describe:
      'Password for the first admin, created on first start when no admin exists (must be changed at first sign-in). Empty: a one-time password is generated and printed once on stdout.',
    default: undefined,
    parse: (raw) => {
      const v = optionalText(raw);
      if (v !== undefined && v.length < 10) throw new Invalid('must be at least 10 characters');
      return v;
    },
    secret: true,
  }),
  setting({
    key: 'consoleDir',
    env: 'PARLEY_CONSOLE_DIR',
    describe: 'Directory of the built web console. Default: web/console/dist next to the server.',
    default: undefined,
    parse: (raw) => path.resolve(text(raw)),
  }),
  setting({
    key: 'visitorTokenSecret',
    env: 'PARLEY_VISITOR_TOKEN_SECRET',
    describe:
      'Key that signs anonymous visitor tokens (at least 32 characters). Empty: one is generated on first start and kept in the database, so every replica shares it.',
    default: undefined,
    parse: (raw) => {
      const v = optionalText(raw);
      if (v !== undefined && v.length < 32) throw new Invalid('must be at least 32 characters');
      return v;
    },
    secret: true,
  }),
  setting({
    key: 'messageMaxChars',
    env: 'PARLEY_MESSAGE_MAX_CHARS',
    describe: 'Longest chat message accepted, in characters.',
    default: '5000',
    parse: integer(1, 100000),
  }),
  setting({
    key: 'attachmentMaxBytes',
    env: 'PARLEY_ATTACHMENT_MAX_MB',
    describe: 'Largest attachment accepted, in megabytes.',
    default: '20',
    parse: (raw) => integer(1, 1024)(raw) * 1024 * 1024,
  }),
  setting({
    key: 'wsFramesPerSecond',
    env: 'PARLEY_WS_FRAMES_PER_SECOND',
    describe: 'Frames per second one WebSocket connection may send on average; a flood closes it (1008).',
    default: '20',
    parse: integer(1, 100000),
  }),
  setting({
    key: 'wsFramesBurst',
    env: 'PARLEY_WS_FRAMES_BURST',
    describe: 'Frames one WebSocket connection may send in a burst above the average.',
    default: '40',
    parse: integer(1, 100000),
  }),
  setting({
    key: 'wsMaxConnectionsPerIp',
    env: 'PARLEY_WS_MAX_CONNECTIONS_PER_IP',
    describe:
      'Open WebSocket connections allowed from one IP address (raise it behind a NAT or for load tests).',
    default: '200',
    parse: integer(1, 1000000),
  }),
  setting({
    key: 'wsIpFramesPerSecond',
    env: 'PARLEY_WS_IP_FRAMES_PER_SECOND',
    describe:
      'Frames per second all WebSocket connections of one IP address may send together (burst: twice this).',
    default: '400',
    parse: integer(1, 10000000),
  }),
  setting({
    key: 'realtimeCatchUpSeconds',
    env: 'PARLEY_REALTIME_CATCHUP_SECONDS',
    describe:
      'Every this many seconds each replica checks the database for messages it was not notified of (a safety net for a crash between commit and notify).',
    default: '5',
    parse: integer(1, 3600),
  }),
] as const;

const REPO_ROOT = path.resolve(import.meta.dirname, '../../..');

/** Read `parley.env` (if present) under the variables already in the environment. */
export function readEnvironment(
  env: NodeJS.ProcessEnv = process.env,
  envFile: string | undefined = env.PARLEY_ENV_FILE ?? path.resolve('parley.env'),
): Record<string, string | undefined> {
  const merged: Record<string, string | undefined> = {};
  if (envFile && existsSync(envFile)) {
    Object.assign(merged, parseEnv(readFileSync(envFile, 'utf8')));
  }
  for (const s of SETTINGS) {
    if (env[s.env] !== undefined) merged[s.env] = env[s.env];
  }
  return merged;
}

export function loadConfig(source: Record<string, string | undefined> = readEnvironment()): Readonly<Config> {
  const problems: string[] = [];
  const out: Partial<Record<keyof Config, unknown>> = {};
  for (const s of SETTINGS) {
    const raw = source[s.env] ?? s.default;
    if (raw === undefined) {
      out[s.key] = undefined;
      continue;
    }
    try {
      out[s.key] = (s.parse as Parser<unknown>)(raw);
    } catch (err) {
      if (!(err instanceof Invalid)) throw err;
      problems.push(`${s.env}: ${err.message}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const config = out as Config;
  config.publicUrl ??= `http://localhost:${config.port === 0 ? 8080 : config.port}`;
  config.consoleDir ??= path.join(REPO_ROOT, 'web', 'console', 'dist');
  if (config.loginLockoutMaxSeconds < config.loginLockoutBaseSeconds) {
    throw new ConfigError([
      `LOGIN_LOCKOUT_MAX_SECONDS: must be at least LOGIN_LOCKOUT_BASE_SECONDS (${config.loginLockoutBaseSeconds})`,
    ]);
  }
  return Object.freeze(config);
}

/** The text of parley.env.example, generated from SETTINGS so the two never disagree. */
export function renderEnvExample(): string {
  const lines = [
    '# Parley configuration. Copy to parley.env (or set these as environment variables;',
    '# the environment wins over the file). Every variable is optional unless noted.',
    '',
  ];
  for (const s of SETTINGS) {
    const example = 'example' in s ? s.example : undefined;
    lines.push(`# ${s.describe}`);
    if (s.default !== undefined) lines.push(`# ${s.env}=${s.default}`);
    else if (example !== undefined) lines.push(`# ${s.env}=${example}`);
    else lines.push(`# ${s.env}=`);
    lines.push('');
  }
  return lines.join('\n');
}

/** Names of settings whose values must never be printed. */
export const SECRET_SETTINGS: readonly string[] = SETTINGS.filter((s) => 'secret' in s && s.secret).map(
  (s) => s.env,
);
