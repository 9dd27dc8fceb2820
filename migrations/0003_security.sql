-- parley:compatible-with-previous: new tables, functions and nullable or defaulted columns
-- Security and compliance: signed audit checkpoints, controlled archival of old audit records,
-- the privileges of a separate application role, 2FA, password history, security settings.

-- Signed heads of the audit chain. Append-only like the chain itself.
create table audit_checkpoints (
  id bigserial primary key,
  seq bigint not null,
  hash bytea not null,
  signed_at timestamptz not null,
  algorithm text not null default 'ed25519' check (algorithm = 'ed25519'),
  key_fingerprint text not null,
  signature bytea not null
);
create index audit_checkpoints_seq_idx on audit_checkpoints (seq);

-- One row per archived-and-pruned segment of audit_log: the anchor that keeps the chain
-- verifiable across the boundary (the first remaining record's prev_hash = last_hash).
create table audit_archives (
  id bigserial primary key,
  first_seq bigint not null,
  last_seq bigint not null,
  last_hash bytea not null,
  record_count bigint not null,
  file_name text not null,
  file_sha256 text not null,
  archived_at timestamptz not null default now(),
  check (last_seq >= first_seq)
);

create function audit_meta_refuse_change() returns trigger language plpgsql as $$
begin
  raise exception '% is append-only: % is not allowed', tg_table_name, tg_op using errcode = '42501';
end;
$$;
create trigger audit_checkpoints_no_change before update or delete on audit_checkpoints
  for each row execute function audit_meta_refuse_change();
create trigger audit_checkpoints_no_truncate before truncate on audit_checkpoints
  for each statement execute function audit_meta_refuse_change();
create trigger audit_archives_no_change before update or delete on audit_archives
  for each row execute function audit_meta_refuse_change();
create trigger audit_archives_no_truncate before truncate on audit_archives
  for each statement execute function audit_meta_refuse_change();

-- The audit_log trigger now allows exactly one kind of DELETE: of a record that an archive
-- anchor covers AND that is older than 180 days (the legal floor), AND only while the
-- transaction-local flag set by audit_prune() is on. UPDATE and TRUNCATE stay refused.
create or replace function audit_log_refuse_change() returns trigger language plpgsql as $$
begin
  if tg_op = 'DELETE'
     and current_setting('parley.audit_prune', true) = 'on'
     and old.occurred_at < now() - interval '180 days'
     and exists (select 1 from audit_archives a where old.seq between a.first_seq and a.last_seq) then
    return old;
  end if;
  raise exception 'audit_log is append-only: % is not allowed', tg_op using errcode = '42501';
end;
$$;

-- The only way to remove audit records: after the archive file was written and verified, record
-- its anchor and delete exactly the oldest records up to last_seq. SECURITY DEFINER so that an
-- application role without DELETE on audit_log can run it; it refuses anything that would break
-- the chain (not the oldest segment, wrong last hash) or shorten retention below the floor.
create function audit_prune(
  p_last_seq bigint,
  p_last_hash bytea,
  p_retention_days integer,
  p_file_name text,
  p_file_sha256 text
) returns bigint language plpgsql security definer set search_path = pg_catalog, public as $$
declare
  v_first bigint;
  v_hash bytea;
  v_at timestamptz;
  v_count bigint;
begin
  perform pg_advisory_xact_lock(727002);
  select min(seq) into v_first from audit_log;
  if v_first is null or p_last_seq < v_first then
    raise exception 'audit_prune: nothing to prune up to seq %', p_last_seq;
  end if;
  select hash, occurred_at into v_hash, v_at from audit_log where seq = p_last_seq;
  if v_hash is null or v_hash <> p_last_hash then
    raise exception 'audit_prune: seq % does not have the archived hash', p_last_seq;
  end if;
  if v_at >= now() - make_interval(days => greatest(p_retention_days, 180)) then
    raise exception 'audit_prune: seq % is younger than the retention period', p_last_seq;
  end if;
  if exists (select 1 from audit_log where seq = p_last_seq + 1)
     and (select prev_hash from audit_log where seq = p_last_seq + 1) <> p_last_hash then
    raise exception 'audit_prune: the chain is broken after seq %', p_last_seq;
  end if;
  insert into audit_archives (first_seq, last_seq, last_hash, record_count, file_name, file_sha256)
    values (v_first, p_last_seq, p_last_hash, p_last_seq - v_first + 1, p_file_name, p_file_sha256);
  perform set_config('parley.audit_prune', 'on', true);
  delete from audit_log where seq between v_first and p_last_seq;
  get diagnostics v_count = row_count;
  perform set_config('parley.audit_prune', 'off', true);
  return v_count;
end;
$$;
revoke all on function audit_prune(bigint, bytea, integer, text, text) from public;

-- Two-role setup (docs/SECURITY.md): the owner role runs migrations; the application role
-- serves. Run `select parley_grant_app_role('parley_app')` as the owner after migrating.
-- The app role may read and append to the audit tables, never change or remove their rows.
create function parley_grant_app_role(p_role name) returns void language plpgsql as $$
declare
  t record;
begin
  execute format('grant usage on schema public to %I', p_role);
  for t in select tablename from pg_tables where schemaname = 'public' loop
    if t.tablename in ('audit_log', 'audit_checkpoints', 'audit_archives') then
      execute format('revoke all on table %I from %I', t.tablename, p_role);
      execute format('grant select, insert on table %I to %I', t.tablename, p_role);
    else
      execute format('grant select, insert, update, delete on table %I to %I', t.tablename, p_role);
    end if;
  end loop;
  execute format('grant usage, select on all sequences in schema public to %I', p_role);
  execute format('grant execute on function audit_prune(bigint, bytea, integer, text, text) to %I', p_role);
end;
$$;
revoke all on function parley_grant_app_role(name) from public;

-- Local accounts vs accounts whose password lives in LDAP / Active Directory.
alter table users add column auth_source text not null default 'local'
  check (auth_source in ('local', 'ldap'));
-- TOTP (RFC 6238): the secret is encrypted with the key ring (key id inside the value).
alter table users add column totp_secret_enc text;
alter table users add column totp_enabled_at timestamptz;
-- The last time step accepted, so a code cannot be replayed within its window.
alter table users add column totp_last_step bigint;

-- Recovery codes for 2FA: only an argon2 hash of each one-time code is kept.
create table user_recovery_codes (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  code_hash text not null,
  used_at timestamptz
);
create index user_recovery_codes_user_idx on user_recovery_codes (user_id) where used_at is null;

-- Previous password hashes, to refuse reuse of the last N passwords.
create table password_history (
  id bigserial primary key,
  user_id uuid not null references users (id) on delete cascade,
  password_hash text not null,
  created_at timestamptz not null default now()
);
create index password_history_user_idx on password_history (user_id, created_at desc);

-- Second step of a sign-in with 2FA: short-lived, only the hash of the challenge token is kept.
create table login_challenges (
  token_hash bytea primary key,
  user_id uuid not null references users (id) on delete cascade,
  ip text,
  user_agent text,
  attempts integer not null default 0,
  expires_at timestamptz not null
);

-- Security settings an admin changes in the console (2FA policy, IP allow-list, password policy).
create table security_settings (
  key text primary key,
  value jsonb not null,
  updated_at timestamptz not null default now(),
  updated_by uuid references users (id) on delete set null
);
