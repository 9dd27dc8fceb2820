-- parley:compatible-with-previous: a new table
-- Backup history: one row per `backup create` and per `backup verify` (scheduled or CLI), so
-- every replica's /metrics and the admin console see the same last backup and last verified
-- restore. The archives themselves live in BACKUP_DIR with a .json record next to each.
create table backup_runs (
  id uuid primary key default gen_random_uuid(),
  kind text not null check (kind in ('create', 'verify')),
  archive text not null,
  -- When the archive's snapshot was taken (its recovery point); null when create failed early.
  archive_created_at timestamptz,
  started_at timestamptz not null,
  finished_at timestamptz not null default now(),
  outcome text not null check (outcome in ('success', 'failure')),
  size_bytes bigint,
  duration_ms integer not null,
  -- verify only: how long the restore into the scratch database took (the measured recovery time).
  restore_ms integer,
  replica text not null,
  detail jsonb not null default '{}'::jsonb
);
create index backup_runs_recent_idx on backup_runs (kind, outcome, finished_at desc);
