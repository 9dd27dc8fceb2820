-- parley:compatible-with-previous: the first schema (there is no earlier code)
-- Identity (users, teams, sessions, login throttling) and the append-only audit trail.

create table users (
  id uuid primary key default gen_random_uuid(),
  username text not null,
  display_name text not null,
  role text not null check (role in ('admin', 'supervisor', 'agent', 'auditor')),
  password_hash text not null,
  must_change_password boolean not null default false,
  disabled_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint users_username_format check (username ~ '^[a-z0-9][a-z0-9._@-]{1,63}$')
);
create unique index users_username_key on users (username);
create index users_role_idx on users (role) where disabled_at is null;

create table teams (
  id uuid primary key default gen_random_uuid(),
  name text not null check (length(name) between 1 and 80),
  description text not null default '',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index teams_name_key on teams (lower(name));

create table team_members (
  team_id uuid not null references teams (id) on delete cascade,
  user_id uuid not null references users (id) on delete cascade,
  added_at timestamptz not null default now(),
  primary key (team_id, user_id)
);
create index team_members_user_idx on team_members (user_id);

-- Server-side sessions. Only the SHA-256 of the cookie token is stored.
create table sessions (
  id uuid primary key default gen_random_uuid(),
  token_hash bytea not null unique,
  user_id uuid not null references users (id) on delete cascade,
  created_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now(),
  expires_at timestamptz not null,
  revoked_at timestamptz,
  ip text,
  user_agent text
);
create index sessions_user_idx on sessions (user_id) where revoked_at is null;

-- Failed-login counters, one row per account ("account:<username>") and per address ("ip:<addr>").
create table login_throttle (
  key text primary key,
  failures integer not null default 0,
  locked_until timestamptz,
  last_failure_at timestamptz not null default now()
);

-- The audit trail: append-only, hash-chained. hash = SHA-256(prev_hash || canonical JSON of the record).
create table audit_log (
  seq bigint primary key,
  occurred_at timestamptz not null,
  actor_id uuid,
  actor_name text,
  actor_ip text,
  actor_user_agent text,
  action text not null,
  target_type text,
  target_id text,
  outcome text not null check (outcome in ('success', 'failure', 'denied')),
  details jsonb not null default '{}'::jsonb,
  hash_alg text not null default 'sha256',
  prev_hash bytea not null,
  hash bytea not null unique
);
create index audit_log_occurred_idx on audit_log (occurred_at);
create index audit_log_actor_idx on audit_log (actor_id, seq);
create index audit_log_action_idx on audit_log (action, seq);

create function audit_log_refuse_change() returns trigger language plpgsql as $$
begin
  raise exception 'audit_log is append-only: % is not allowed', tg_op using errcode = '42501';
end;
$$;
create trigger audit_log_no_update before update or delete on audit_log
  for each row execute function audit_log_refuse_change();
create trigger audit_log_no_truncate before truncate on audit_log
  for each statement execute function audit_log_refuse_change();
