// The only module that reads process.env. Every setting is declared once in SETTINGS:
// its variable, what it means, its default and how it is parsed. `loadConfig` validates all
// of them at start-up and reports every bad value at once, naming the variable.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import cron from 'node-cron';

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
  /** auto: human-readable lines on a terminal, JSON lines otherwise. */
  logFormat: 'auto' | 'json' | 'pretty';
  /** auto: one line per HTTP request with DATABASE_URL set, none on the embedded trial. */
  logRequests: 'auto' | 'on' | 'off';
  timezone: string;
  migrateOnStart: boolean;
  migrateWaitSeconds: number;
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
  widgetDir: string;
  visitorTokenSecret: string | undefined;
  messageMaxChars: number;
  attachmentMaxBytes: number;
  wsFramesPerSecond: number;
  wsFramesBurst: number;
  wsMaxConnectionsPerIp: number;
  wsIpFramesPerSecond: number;
  realtimeCatchUpSeconds: number;
  realtimeForgetSeconds: number;
  /** Where attachment bytes live: in PostgreSQL (default) or as files under attachmentDir. */
  presenceTtlSeconds: number;
  /** Automatic assignment by the routing engine (modules/routing); off = manual claims only. */
  routingEnabled: boolean;
  routingTickMs: number;
  routingOfflineGraceSeconds: number;
  routingSweepSeconds: number;
  attachmentStorage: 'database' | 'volume';
  attachmentDir: string;
  /** Server processes on this machine (node:cluster); 1 = no cluster. */
  workers: number;
  /** Where `parley backup create` and the scheduled job write archives. */
  backupDir: string;
  /** Cron expression for the scheduled backup; undefined = no scheduled backup. */
  backupCron: string | undefined;
  backupVerify: boolean;
  backupKeepDaily: number;
  backupKeepWeekly: number;
  backupRpoHours: number;
  /** PEM text of the public key archives are encrypted to; undefined = not encrypted. */
  backupEncryptPublicKey: string | undefined;
  /** PEM text of the private key that opens encrypted archives (only where restores happen). */
  backupDecryptPrivateKey: string | undefined;
  /** Maintenance database where `backup verify` creates its scratch database. */
  backupVerifyDatabaseUrl: string | undefined;
  auditSigningKey: string | undefined;
  auditCheckpointSchedule: string;
  auditRetentionDays: number;
  auditArchiveEnabled: boolean;
  auditArchiveDir: string;
  auditMacKeys: string | undefined;
  auditAnchorDir: string | undefined;
  auditSyslogUrl: string | undefined;
  auditSyslogCa: string | undefined;
  auditWitnessUrl: string | undefined;
  encryptionKeys: string | undefined;
  lookupKey: string | undefined;
  piiSensitiveAttributes: readonly string[];
  conversationRetentionDays: number;
  conversationRetentionErase: boolean;
  passwordMinLength: number;
  passwordHistory: number;
  publicRateLimitPerMinute: number;
  ldapUrl: string | undefined;
  ldapBindDn: string | undefined;
  ldapBindPassword: string | undefined;
  ldapUserBase: string | undefined;
  ldapUserFilter: string;
  ldapGroupBase: string | undefined;
  ldapGroupFilter: string;
  ldapRoleMap: Readonly<Record<string, string>>;
  ldapTeamMap: Readonly<Record<string, string>>;
  ldapStartTls: boolean;
  ldapTlsCaFile: string | undefined;
  ldapTlsRejectUnauthorized: boolean;
  ldapTimeoutMs: number;
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

/** A key given either as PEM text or as the path of a PEM file; returns the PEM text. */
const pemKey =
  (kind: 'public' | 'private'): Parser<string | undefined> =>
  (raw) => {
    const v = raw.trim();
    if (v === '') return undefined;
    let pem = v;
    if (!v.startsWith('-----BEGIN')) {
      try {
        pem = readFileSync(path.resolve(v), 'utf8');
      } catch (err) {
        throw new Invalid(`cannot read the key file ${v}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
      }
    }
    try {
      const key = kind === 'public' ? createPublicKey(pem) : createPrivateKey(pem);
      if (key.asymmetricKeyType !== 'rsa')
        throw new Invalid(`expected an RSA key, got ${key.asymmetricKeyType}`);
      if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048)
        throw new Invalid('the RSA key must have at least 2048 bits');
    } catch (err) {
      if (err instanceof Invalid) throw err;
      throw new Invalid(`not a PEM ${kind} key (${(err as Error).message})`);
    }
    return pem;
  };
const optionalCron: Parser<string | undefined> = (raw) => {
  const v = raw.trim();
  if (v === '' || v.toLowerCase() === 'off') return undefined;
  if (!cron.validate(v))
    throw new Invalid(`"${raw}" is not a cron expression such as "30 2 * * *" (or "off")`);
  return v;
};

const ed25519PrivateKey: Parser<string | undefined> = (raw) => {
  const v = raw.trim();
  if (v === '') return undefined;
  try {
    const key = v.includes('-----BEGIN')
      ? createPrivateKey(v.replace(/\\n/g, '\n'))
      : createPrivateKey({ key: Buffer.from(v, 'base64'), format: 'der', type: 'pkcs8' });
    if (key.asymmetricKeyType !== 'ed25519') throw new Invalid('not an Ed25519 key');
  } catch (err) {
    if (err instanceof Invalid) throw err;
    throw new Invalid(
      'expected an Ed25519 private key: PEM ("-----BEGIN PRIVATE KEY-----…") or base64 PKCS#8 DER; `parley audit keygen` makes one',
    );
  }
  return v;
};
const cronExpression: Parser<string> = (raw) => {
  const v = raw.trim();
  if (!cron.validate(v)) throw new Invalid(`"${raw}" is not a cron expression such as */10 * * * *`);
  return v;
};
/** "id:base64key,id2:base64key": 32-byte AES keys with ids; the first one encrypts new data. */
const keyList: Parser<string | undefined> = (raw) => {
  const v = raw.trim();
  if (v === '') return undefined;
  const ids = new Set<string>();
  for (const part of v.split(',')) {
    const m = /^([A-Za-z0-9_-]{1,32}):([A-Za-z0-9+/=_-]+)$/.exec(part.trim());
    if (!m)
      throw new Invalid('expected "keyid:base64key[,keyid:base64key…]" (`parley keys generate` makes one)');
    if (Buffer.from(m[2]!, 'base64').length !== 32)
      throw new Invalid(`key "${m[1]}" must be 32 bytes (base64)`);
    if (ids.has(m[1]!)) throw new Invalid(`key id "${m[1]}" appears twice`);
    ids.add(m[1]!);
  }
  return v;
};
const secretBytes: Parser<string | undefined> = (raw) => {
  const v = raw.trim();
  if (v === '') return undefined;
  if (Buffer.from(v, 'base64').length < 32) throw new Invalid('expected at least 32 random bytes, base64');
  return v;
};
const jsonMap: Parser<Readonly<Record<string, string>>> = (raw) => {
  if (raw.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new Invalid('expected a JSON object such as {"cn=admins,ou=groups,dc=example,dc=com":"admin"}');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new Invalid('expected a JSON object');
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(parsed)) {
    if (typeof val !== 'string') throw new Invalid(`the value for "${k}" must be a string`);
    out[k.toLowerCase()] = val;
  }
  return Object.freeze(out);
};
const ldapUrl: Parser<string | undefined> = (raw) => {
  const v = raw.trim();
  if (v === '') return undefined;
  if (!/^ldaps?:\/\/[^/\s]+\/?$/.test(v)) throw new Invalid('expected ldap://host:389 or ldaps://host:636');
  return v;
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
    describe: 'Log level: fatal, error, warn, info, debug, trace or silent. Logs go to stdout.',
    default: 'info',
    parse: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
  }),
  setting({
    key: 'logFormat',
    env: 'PARLEY_LOG_FORMAT',
    describe:
      'Log format: json (one JSON object per line, for collectors), pretty (readable lines), or auto: pretty when stdout is a terminal, json otherwise.',
    default: 'auto',
    parse: oneOf(['auto', 'json', 'pretty'] as const),
  }),
  setting({
    key: 'logRequests',
    env: 'PARLEY_LOG_REQUESTS',
    describe:
      'One log line per HTTP request: on, off, or auto: on with DATABASE_URL, off on the embedded PostgreSQL (the trial), so its first-run message stays on screen.',
    default: 'auto',
    parse: oneOf(['auto', 'on', 'off'] as const),
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
    key: 'migrateWaitSeconds',
    env: 'PARLEY_MIGRATE_WAIT_SECONDS',
    describe:
      '`parley migrate` waits this long for the database to accept connections (a PostgreSQL that is still starting), retrying with backoff and saying why, before it gives up.',
    default: '300',
    parse: integer(0, 86400),
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
    key: 'widgetDir',
    env: 'PARLEY_WIDGET_DIR',
    describe:
      'Directory of the built visitor widget (widget.js, the chat frame, /demo). Default: web/widget/dist next to the server.',
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
    describe:
      'Longest chat message accepted, in characters (Unicode code points: an emoji or a Chinese character is one).',
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
      'Frames per second all WebSocket connections of one IP address may send together (burst: twice this). The first 5 frames of each connection (hello, resume, resends) are not counted, so a reconnect storm behind one NAT resumes.',
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
  setting({
    key: 'realtimeForgetSeconds',
    env: 'PARLEY_REALTIME_FORGET_SECONDS',
    describe:
      'A replica forgets where delivery of a conversation stands after this many seconds without traffic (memory); it works it out again from its sockets on the next message.',
    default: '600',
    parse: integer(1, 86400),
  }),
  setting({
    key: 'presenceTtlSeconds',
    env: 'PARLEY_PRESENCE_TTL_SECONDS',
    describe:
      'Presence (agent online/away, visitor online) is repeated between replicas every third of this and forgotten this long after a replica stops repeating it (e.g. it crashed).',
    default: '45',
    parse: integer(3, 3600),
  }),
  setting({
    key: 'routingEnabled',
    env: 'PARLEY_ROUTING_ENABLED',
    describe:
      'Assign conversations that need an agent automatically (queue, capacity, strategies: docs/ROUTING.md). Off: conversations wait until an agent claims them.',
    default: 'true',
    parse: boolean,
  }),
  setting({
    key: 'routingTickMs',
    env: 'PARLEY_ROUTING_TICK_MS',
    describe:
      'Every this many milliseconds each replica places waiting conversations, applies first-response timeouts, overflow and the offline grace (events make most of it happen at once; this is the safety net).',
    default: '1000',
    parse: integer(100, 60000),
  }),
  setting({
    key: 'routingOfflineGraceSeconds',
    env: 'PARLEY_ROUTING_OFFLINE_GRACE_SECONDS',
    describe:
      'An agent without a console connection this long counts as offline: conversations they were given and have not answered go back to the queue.',
    default: '60',
    parse: integer(0, 3600),
  }),
  setting({
    key: 'routingSweepSeconds',
    env: 'PARLEY_ROUTING_SWEEP_SECONDS',
    describe:
      'Every this many seconds the routing tick also queues open, unassigned conversations that have a visitor message but no queue entry (after a crash between a message and its queueing).',
    default: '10',
    parse: integer(1, 3600),
  }),
  setting({
    key: 'attachmentStorage',
    env: 'ATTACHMENT_STORAGE',
    describe:
      'Where new attachments are stored: "database" (in PostgreSQL, so backups hold everything) or "volume" (files under ATTACHMENT_DIR; backups include that directory). Existing attachments stay where they are.',
    default: 'database',
    parse: oneOf(['database', 'volume'] as const),
  }),
  setting({
    key: 'attachmentDir',
    env: 'ATTACHMENT_DIR',
    describe:
      'Directory of attachment files when ATTACHMENT_STORAGE=volume (shared by every replica: a ReadWriteMany volume). Default: PARLEY_DATA_DIR/attachments.',
    default: undefined,
    parse: (raw) => path.resolve(text(raw)),
    example: '/var/lib/parley/attachments',
  }),
  setting({
    key: 'backupDir',
    env: 'BACKUP_DIR',
    describe:
      'Directory for backup archives (and their .json verification records). Default: PARLEY_DATA_DIR/backups.',
    default: undefined,
    parse: (raw) => path.resolve(text(raw)),
    example: '/var/lib/parley/backups',
  }),
  setting({
    key: 'backupCron',
    env: 'BACKUP_CRON',
    describe:
      'When the scheduled backup runs (cron, in PARLEY_TIMEZONE; one replica runs each slot). "off" disables it, e.g. where a Kubernetes CronJob runs `parley backup create`.',
    default: '30 2 * * *',
    parse: optionalCron,
  }),
  setting({
    key: 'backupVerify',
    env: 'BACKUP_VERIFY',
    describe:
      'After each scheduled backup, prove it by restoring it into a scratch database and comparing every table (needs BACKUP_DECRYPT_PRIVATE_KEY when backups are encrypted).',
    default: 'true',
    parse: boolean,
  }),
  setting({
    key: 'backupKeepDaily',
    env: 'BACKUP_KEEP_DAILY',
    describe: 'Retention: keep the newest verified backup of each of this many most recent days.',
    default: '7',
    parse: integer(1, 3650),
  }),
  setting({
    key: 'backupKeepWeekly',
    env: 'BACKUP_KEEP_WEEKLY',
    describe:
      'Retention: also keep the newest verified backup of each of this many most recent weeks. Unverified or failed archives are never pruned.',
    default: '4',
    parse: integer(0, 520),
  }),
  setting({
    key: 'backupRpoHours',
    env: 'BACKUP_RPO_HOURS',
    describe:
      'Recovery point objective: /metrics raises parley_backup_rpo_exceeded when the newest verified backup is older than this.',
    default: '26',
    parse: integer(1, 24 * 90),
  }),
  setting({
    key: 'backupEncryptPublicKey',
    env: 'BACKUP_ENCRYPT_PUBLIC_KEY',
    describe:
      'RSA public key (PEM text or path of a PEM file) that backups are encrypted to. The server then cannot read its own old backups. Empty: archives are not encrypted.',
    default: undefined,
    parse: pemKey('public'),
    example: '/etc/parley/backup-public.pem',
  }),
  setting({
    key: 'backupDecryptPrivateKey',
    env: 'BACKUP_DECRYPT_PRIVATE_KEY',
    describe:
      'RSA private key (PEM text or path) that opens encrypted backups. Only needed where backups are verified or restored; keep it off the servers that write backups if you can.',
    default: undefined,
    parse: pemKey('private'),
    secret: true,
    example: '/etc/parley/backup-private.pem',
  }),
  setting({
    key: 'backupVerifyDatabaseUrl',
    env: 'BACKUP_VERIFY_DATABASE_URL',
    describe:
      'Database on the server where `backup verify` may CREATE and DROP its scratch database. Empty: DATABASE_URL (its user then needs CREATEDB).',
    default: undefined,
    parse: postgresUrl,
    secret: true,
    example: 'postgres://parley_verify:secret@db.internal:5432/postgres',
  }),
  setting({
    key: 'auditSigningKey',
    env: 'PARLEY_AUDIT_SIGNING_KEY',
    describe:
      'Ed25519 private key (PEM, or base64 PKCS#8 DER) that signs audit checkpoints and export manifests. `parley audit keygen` makes a pair. Empty: no signatures (doctor warns); exports then prove integrity only against the chain itself.',
    default: undefined,
    parse: ed25519PrivateKey,
    secret: true,
  }),
  setting({
    key: 'auditCheckpointSchedule',
    env: 'AUDIT_CHECKPOINT_SCHEDULE',
    describe: 'When the head of the audit chain is signed into audit_checkpoints (cron, in PARLEY_TIMEZONE).',
    default: '*/10 * * * *',
    parse: cronExpression,
  }),
  setting({
    key: 'auditRetentionDays',
    env: 'AUDIT_RETENTION_DAYS',
    describe:
      'Audit records are kept in the database at least this many days (never fewer than 180: Cybersecurity Law, logs kept ≥ 6 months).',
    default: '365',
    parse: (raw) => {
      const n = integer(1, 36500)(raw);
      if (n < 180)
        throw new Invalid(`must be at least 180 days (network logs are kept ≥ 6 months), got ${n}`);
      return n;
    },
  }),
  setting({
    key: 'auditArchiveEnabled',
    env: 'AUDIT_ARCHIVE_ENABLED',
    describe:
      'Daily: move audit records older than AUDIT_RETENTION_DAYS into a verified export file under AUDIT_ARCHIVE_DIR, then prune them from the database.',
    default: 'false',
    parse: boolean,
  }),
  setting({
    key: 'auditArchiveDir',
    env: 'AUDIT_ARCHIVE_DIR',
    describe: 'Where audit archive files go. Default: PARLEY_DATA_DIR/audit-archive.',
    default: undefined,
    parse: (raw) => path.resolve(text(raw)),
  }),
  setting({
    key: 'auditMacKeys',
    env: 'PARLEY_AUDIT_MAC_KEYS',
    describe:
      'Keys for the per-record audit MAC (HMAC-SHA256), "keyid:base64-32-bytes", comma-separated; the FIRST key MACs new records, the others still verify (rotation). Held by the application only (a Kubernetes Secret), never in the database: a record inserted or rewritten with database access alone fails verification. Empty: no MACs (doctor warns).',
    default: undefined,
    parse: keyList,
    secret: true,
    example: 'm2026:BASE64KEY…',
  }),
  setting({
    key: 'auditAnchorDir',
    env: 'AUDIT_ANCHOR_DIR',
    describe:
      "Directory of the append-only external anchor log: every signed checkpoint is appended (one file per UTC day, fsync'd, hash-linked). Put it on storage the database cannot reach (Helm: its own volume). Empty: no anchor log (doctor warns).",
    default: undefined,
    parse: (raw) => (raw.trim() === '' ? undefined : path.resolve(text(raw))),
    example: '/var/lib/parley-anchors',
  }),
  setting({
    key: 'auditSyslogUrl',
    env: 'AUDIT_SYSLOG_URL',
    describe:
      'Also forward every checkpoint to a syslog/SIEM as an RFC 5424 message over TCP (tcp://host:port) or TLS (tls://host:port), octet-counted framing (RFC 6587). Empty: off.',
    default: undefined,
    parse: (raw) => {
      const v = raw.trim();
      if (v === '') return undefined;
      if (!/^(tcp|tls):\/\/[^/:]+:\d{1,5}$/.test(v))
        throw new Invalid('expected tcp://host:port or tls://host:port');
      return v;
    },
    example: 'tls://siem.internal:6514',
  }),
  setting({
    key: 'auditSyslogCa',
    env: 'AUDIT_SYSLOG_CA',
    describe:
      "PEM CA certificate(s) that the tls:// syslog server's certificate must chain to. Empty: the system CAs.",
    default: undefined,
    parse: (raw) => (raw.trim() === '' ? undefined : raw.replace(/\\n/g, '\n')),
  }),
  setting({
    key: 'auditWitnessUrl',
    env: 'AUDIT_WITNESS_URL',
    describe:
      'Also POST every checkpoint (JSON) to an HTTP(S) witness run by someone else (e.g. the compliance team). Empty: off.',
    default: undefined,
    parse: (raw) => {
      const v = raw.trim();
      if (v === '') return undefined;
      if (!/^https?:\/\//.test(v)) throw new Invalid('expected an http:// or https:// URL');
      return v;
    },
    example: 'https://witness.example.com/parley/anchors',
  }),
  setting({
    key: 'encryptionKeys',
    env: 'PARLEY_ENCRYPTION_KEYS',
    describe:
      'Key ring for personal data and 2FA secrets at rest (AES-256-GCM): "keyid:base64-32-bytes", comma-separated; the FIRST key encrypts new data, the others still decrypt. `parley keys generate` makes a key; `parley keys rotate` re-encrypts. Empty: 2FA enrolment and PII encryption are unavailable.',
    default: undefined,
    parse: keyList,
    secret: true,
    example: 'k2025:BASE64KEY…,k2024:OLDBASE64KEY…',
  }),
  setting({
    key: 'lookupKey',
    env: 'PARLEY_LOOKUP_KEY',
    describe:
      'Secret (base64, ≥ 32 bytes) for the keyed hashes (HMAC-SHA-256) that let Parley find a contact by exact phone or email without decrypting. Required with PARLEY_ENCRYPTION_KEYS; never rotate it without re-indexing.',
    default: undefined,
    parse: secretBytes,
    secret: true,
  }),
  setting({
    key: 'piiSensitiveAttributes',
    env: 'PII_SENSITIVE_ATTRIBUTES',
    describe:
      'Contact custom attributes that are personal data: masked in the API unless revealed, and encrypted at rest with the key ring. Comma-separated keys.',
    default: 'address,real_name,id_card,bank_card',
    parse: (raw) =>
      Object.freeze(
        raw
          .split(',')
          .map((k) => k.trim())
          .filter(Boolean),
      ),
  }),
  setting({
    key: 'conversationRetentionDays',
    env: 'CONVERSATION_RETENTION_DAYS',
    describe:
      'Resolved conversations with no activity for this many days are erased (messages, attachments) by a daily job. 0 = keep forever.',
    default: '0',
    parse: integer(0, 36500),
  }),
  setting({
    key: 'conversationRetentionErase',
    env: 'CONVERSATION_RETENTION_ERASE',
    describe:
      'false: the retention job only reports what it would erase (dry run, in the job history and `parley retention report`). true: it erases.',
    default: 'false',
    parse: boolean,
  }),
  setting({
    key: 'passwordMinLength',
    env: 'PASSWORD_MIN_LENGTH',
    describe: 'Shortest password accepted for local accounts.',
    default: '10',
    parse: integer(8, 128),
  }),
  setting({
    key: 'passwordHistory',
    env: 'PASSWORD_HISTORY',
    describe: 'A new password may not repeat any of the last N passwords of that account (0 = no check).',
    default: '5',
    parse: integer(0, 24),
  }),
  setting({
    key: 'publicRateLimitPerMinute',
    env: 'PUBLIC_RATE_LIMIT_PER_MINUTE',
    describe:
      'Requests per minute one IP address may make to public (unauthenticated) endpoints such as the widget API, per replica.',
    default: '120',
    parse: integer(1, 100000),
  }),
  setting({
    key: 'ldapUrl',
    env: 'LDAP_URL',
    describe:
      'LDAP / Active Directory server, e.g. ldaps://dc1.corp.example:636. Empty: LDAP sign-in is off.',
    default: undefined,
    parse: ldapUrl,
  }),
  setting({
    key: 'ldapBindDn',
    env: 'LDAP_BIND_DN',
    describe: 'Service account that searches for users, e.g. cn=parley,ou=services,dc=corp,dc=example.',
    default: undefined,
    parse: optionalText,
  }),
  setting({
    key: 'ldapBindPassword',
    env: 'LDAP_BIND_PASSWORD',
    describe: 'Password of LDAP_BIND_DN.',
    default: undefined,
    parse: optionalText,
    secret: true,
  }),
  setting({
    key: 'ldapUserBase',
    env: 'LDAP_USER_BASE',
    describe: 'Where users are searched, e.g. ou=people,dc=corp,dc=example.',
    default: undefined,
    parse: optionalText,
  }),
  setting({
    key: 'ldapUserFilter',
    env: 'LDAP_USER_FILTER',
    describe:
      'Filter that finds one user; {username} is replaced (escaped). AD: (sAMAccountName={username}).',
    default: '(uid={username})',
    parse: text,
  }),
  setting({
    key: 'ldapGroupBase',
    env: 'LDAP_GROUP_BASE',
    describe:
      "Where groups are searched. Empty: the user's memberOf attribute is used (Active Directory, OpenLDAP with memberof).",
    default: undefined,
    parse: optionalText,
  }),
  setting({
    key: 'ldapGroupFilter',
    env: 'LDAP_GROUP_FILTER',
    describe: 'Filter for the groups of a user under LDAP_GROUP_BASE; {dn} is the user DN (escaped).',
    default: '(member={dn})',
    parse: text,
  }),
  setting({
    key: 'ldapRoleMap',
    env: 'LDAP_ROLE_MAP',
    describe:
      'JSON object: group DN → Parley role (admin, supervisor, agent, auditor). The most privileged match wins; a user in no mapped group may not sign in.',
    default: undefined,
    parse: jsonMap,
    example:
      '{"cn=cs-admins,ou=groups,dc=corp,dc=example":"admin","cn=cs-agents,ou=groups,dc=corp,dc=example":"agent"}',
  }),
  setting({
    key: 'ldapTeamMap',
    env: 'LDAP_TEAM_MAP',
    describe:
      'JSON object: group DN → Parley team name. Team membership follows the directory at each sign-in.',
    default: undefined,
    parse: jsonMap,
    example: '{"cn=cs-billing,ou=groups,dc=corp,dc=example":"Billing"}',
  }),
  setting({
    key: 'ldapStartTls',
    env: 'LDAP_STARTTLS',
    describe: 'Upgrade an ldap:// connection with StartTLS before binding.',
    default: 'false',
    parse: boolean,
  }),
  setting({
    key: 'ldapTlsCaFile',
    env: 'LDAP_TLS_CA_FILE',
    describe: 'PEM file with the CA that signed the directory server certificate (ldaps:// or StartTLS).',
    default: undefined,
    parse: optionalText,
  }),
  setting({
    key: 'ldapTlsRejectUnauthorized',
    env: 'LDAP_TLS_REJECT_UNAUTHORIZED',
    describe: 'Verify the directory server certificate. Only turn off to diagnose.',
    default: 'true',
    parse: boolean,
  }),
  setting({
    key: 'ldapTimeoutMs',
    env: 'LDAP_TIMEOUT_MS',
    describe: 'Connect and operation timeout for the directory server.',
    default: '5000',
    parse: integer(100, 60000),
  }),
  setting({
    key: 'workers',
    env: 'PARLEY_WORKERS',
    describe:
      'Server processes on this machine sharing the port (1: one process). More than 1 runs identical replicas coordinated through PostgreSQL, like replicas on several machines; needs DATABASE_URL.',
    default: '1',
    parse: integer(1, 64),
  }),
] as const;

const REPO_ROOT = path.resolve(import.meta.dirname, '../../..');

/** Read `parley.env` (if present) under the variables already in the environment. */
export function readEnvironment(
  env: NodeJS.ProcessEnv = process.env,
  envFile: string | undefined = env.PARLEY_ENV_FILE ?? path.resolve('parley.env'),
): Record<string, string | undefined> {
  const merged: Record<string, string | undefined> = {};
  const known = new Set<string>(SETTINGS.map((s) => s.env));
  if (envFile && existsSync(envFile)) {
    const fromFile = parseEnv(readFileSync(envFile, 'utf8'));
    // A typo in the file (PARLEY_PROT=…) would otherwise be silently ignored.
    const unknown = Object.keys(fromFile).filter((k) => !known.has(k));
    if (unknown.length > 0) {
      throw new ConfigError(
        unknown.map((k) => `${k}: not a Parley setting (in ${envFile}; see parley.env.example)`),
      );
    }
    Object.assign(merged, fromFile);
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
  config.widgetDir ??= path.join(REPO_ROOT, 'web', 'widget', 'dist');
  config.auditArchiveDir ??= path.join(config.dataDir, 'audit-archive');
  config.ldapRoleMap ??= Object.freeze({});
  config.ldapTeamMap ??= Object.freeze({});
  if (config.encryptionKeys && !config.lookupKey) {
    throw new ConfigError(['PARLEY_LOOKUP_KEY: required when PARLEY_ENCRYPTION_KEYS is set']);
  }
  if (config.ldapUrl && !config.ldapUserBase) {
    throw new ConfigError(['LDAP_USER_BASE: required when LDAP_URL is set']);
  }
  config.backupDir ??= path.join(config.dataDir, 'backups');
  config.attachmentDir ??= path.join(config.dataDir, 'attachments');
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
