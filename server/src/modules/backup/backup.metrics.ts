// Backup gauges on /metrics, read from backup_runs at scrape time so every replica reports the
// same figures whichever replica (or CLI) ran the backup.
import client from 'prom-client';
import type { BackupService } from './backup.service.ts';

export function registerBackupMetrics(
  registry: client.Registry,
  backup: Pick<BackupService, 'status'>,
  opts: { rpoHours: number },
): void {
  // Gauges are collected in parallel on a scrape: they share one in-flight query.
  let inflight: Promise<Awaited<ReturnType<BackupService['status']>> | null> | undefined;
  const status = () => {
    inflight ??= backup
      .status()
      .catch(() => null)
      .finally(() => {
        inflight = undefined;
      });
    return inflight;
  };
  const seconds = (d: Date | null | undefined) => (d ? d.getTime() / 1000 : 0);

  const gauge = (
    name: string,
    help: string,
    read: (s: NonNullable<Awaited<ReturnType<typeof status>>>) => number | undefined,
  ) =>
    new client.Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const s = await status();
        if (!s) return; // database unreachable: keep the last values
        const v = read(s);
        if (v === undefined) this.reset();
        else this.set(v);
      },
    });

  gauge(
    'parley_backup_last_success_timestamp_seconds',
    'When the newest successful backup was taken (its recovery point), Unix time.',
    (s) => (s.lastGoodCreate ? seconds(s.lastGoodCreate.archive_created_at) : undefined),
  );
  gauge(
    'parley_backup_last_size_bytes',
    'Size of the newest successful backup archive.',
    (s) => s.lastGoodCreate?.size_bytes ?? undefined,
  );
  gauge('parley_backup_last_duration_seconds', 'How long the newest successful backup took.', (s) =>
    s.lastGoodCreate ? s.lastGoodCreate.duration_ms / 1000 : undefined,
  );
  gauge(
    'parley_backup_last_result',
    'Result of the most recent backup attempt: 1 success, 0 failure.',
    (s) => (s.lastCreate ? (s.lastCreate.outcome === 'success' ? 1 : 0) : undefined),
  );
  gauge(
    'parley_backup_last_verify_timestamp_seconds',
    'When the most recent verification (restore into a scratch database) finished, Unix time.',
    (s) => (s.lastVerify ? seconds(s.lastVerify.finished_at) : undefined),
  );
  gauge(
    'parley_backup_last_verify_result',
    'Result of the most recent verification: 1 passed, 0 failed.',
    (s) => (s.lastVerify ? (s.lastVerify.outcome === 'success' ? 1 : 0) : undefined),
  );
  gauge(
    'parley_backup_last_verify_restore_seconds',
    'Restore time measured by the most recent verification (the recovery time).',
    (s) => (s.lastVerify?.restore_ms != null ? s.lastVerify.restore_ms / 1000 : undefined),
  );
  gauge(
    'parley_backup_last_verify_duration_seconds',
    'Total duration of the most recent verification.',
    (s) => (s.lastVerify ? s.lastVerify.duration_ms / 1000 : undefined),
  );
  gauge(
    'parley_backup_newest_verified_timestamp_seconds',
    'Recovery point of the newest backup that passed verification, Unix time.',
    (s) => (s.newestVerified ? seconds(s.newestVerified.archive_created_at) : undefined),
  );
  gauge(
    'parley_backup_rpo_exceeded',
    'Alert: 1 when there is no verified backup newer than BACKUP_RPO_HOURS, else 0.',
    (s) => {
      const at = s.newestVerified?.archive_created_at;
      if (!at) return 1;
      return s.now.getTime() - at.getTime() > opts.rpoHours * 3600_000 ? 1 : 0;
    },
  );
  new client.Gauge({
    name: 'parley_backup_rpo_hours',
    help: 'The configured recovery point objective (BACKUP_RPO_HOURS).',
    registers: [registry],
  }).set(opts.rpoHours);
}
