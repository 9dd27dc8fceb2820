-- parley:compatible-with-previous: a nullable column on audit_log, nullable columns on audit_archives, a new audit_prune overload (the old one stays for the previous release) and a narrower grant for the app role
-- Issue 21: audit records a database superuser cannot forge, signed archive anchors.

-- Per-record MAC with a key only the application holds (PARLEY_AUDIT_MAC_KEYS, never stored
-- here): "hmac-sha256:<key id>:<base64>" over the record's seq and hash. Null for records
-- written before MAC keys were configured (verification says so).
alter table audit_log add column mac text;

-- Archive anchors are signed by the application (Ed25519, the audit signing key): a row the
-- database role inserts by itself cannot carry a valid signature, and verification ignores
-- and reports it.
alter table audit_archives add column key_fingerprint text;
alter table audit_archives add column signature bytea;

create function audit_prune(
  p_last_seq bigint,
  p_last_hash bytea,
  p_retention_days integer,
  p_file_name text,
  p_file_sha256 text,
  p_key_fingerprint text,
  p_signature bytea
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
  insert into audit_archives (first_seq, last_seq, last_hash, record_count, file_name, file_sha256,
                              key_fingerprint, signature)
    values (v_first, p_last_seq, p_last_hash, p_last_seq - v_first + 1, p_file_name, p_file_sha256,
            p_key_fingerprint, p_signature);
  perform set_config('parley.audit_prune', 'on', true);
  delete from audit_log where seq between v_first and p_last_seq;
  get diagnostics v_count = row_count;
  perform set_config('parley.audit_prune', 'off', true);
  return v_count;
end;
$$;
revoke all on function audit_prune(bigint, bytea, integer, text, text, text, bytea) from public;

-- The app role may read audit_archives but no longer insert into it: anchors are created only
-- by audit_prune() (SECURITY DEFINER, owned by the owner role).
create or replace function parley_grant_app_role(p_role name) returns void language plpgsql as $$
declare
  t record;
begin
  execute format('grant usage on schema public to %I', p_role);
  for t in select tablename from pg_tables where schemaname = 'public' loop
    if t.tablename in ('audit_log', 'audit_checkpoints') then
      execute format('revoke all on table %I from %I', t.tablename, p_role);
      execute format('grant select, insert on table %I to %I', t.tablename, p_role);
    elsif t.tablename = 'audit_archives' then
      execute format('revoke all on table %I from %I', t.tablename, p_role);
      execute format('grant select on table %I to %I', t.tablename, p_role);
    else
      execute format('grant select, insert, update, delete on table %I to %I', t.tablename, p_role);
    end if;
  end loop;
  execute format('grant usage, select on all sequences in schema public to %I', p_role);
  execute format('grant execute on function audit_prune(bigint, bytea, integer, text, text) to %I', p_role);
  execute format('grant execute on function audit_prune(bigint, bytea, integer, text, text, text, bytea) to %I', p_role);
end;
$$;
revoke all on function parley_grant_app_role(name) from public;
