-- parley:compatible-with-previous: a new table
-- Scheduled jobs: one row per job and scheduled slot. The replica that inserts the row runs the
-- job; the others see the conflict and skip, so N replicas run each slot exactly once.
create table job_runs (
  job text not null,
  slot timestamptz not null,
  replica text not null,
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  outcome text check (outcome in ('success', 'failure')),
  detail jsonb not null default '{}'::jsonb,
  primary key (job, slot)
);
create index job_runs_recent_idx on job_runs (job, started_at desc);
