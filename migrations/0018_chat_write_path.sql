-- parley:compatible-with-previous: the new check matches what earlier code writes (resolved_at set on resolve, cleared on reopen); lists of earlier code lose the dropped indexes (slower, not wrong)
-- The chat write path, cheaper for the database (docs/PERFORMANCE.md, "Database work per message").
--
-- Every message updates its conversation's row (last_seq, last_activity_at, preview). With
-- last_activity_at in three indexes, each of those updates wrote a new entry into every index of
-- the table (six), and the GIN index on to_tsvector(body) was maintained for every message. Now:
--
-- 1. No index holds a column that a message changes, and pages keep free room (fillfactor 80),
--    so the per-message update is a heap-only (HOT) update: no index is touched. Lists of active
--    conversations (open, pending, snoozed: a bounded set) are found by team/assignee/status and
--    sorted in memory; resolved conversations, the set that grows without bound, are listed by
--    resolved_at through their own index (a resolved conversation's resolved_at does not change
--    while it stays resolved). The list's order is "last activity" for active conversations and
--    "resolved at" for resolved ones.
-- 2. Message search is a substring match (ILIKE), which finds words inside Chinese text; the
--    to_tsvector('simple') index split only at spaces and punctuation, so a word inside a Chinese
--    sentence was never found, and it cost every insert.
-- 3. parley_append_message takes a fast path: one UPDATE locks and bumps the row (no separate
--    SELECT … FOR UPDATE, which wrote a lock record first), and the insert resolves a concurrent
--    resend of the same client id by the unique constraint. Anything unusual (a reopen, no row,
--    not visible) takes the previous path unchanged.

update conversations set resolved_at = last_activity_at where status = 'resolved' and resolved_at is null;
update conversations set resolved_at = null where status <> 'resolved' and resolved_at is not null;
alter table conversations add constraint conversations_resolved
  check ((status = 'resolved') = (resolved_at is not null));

drop index conversations_activity_idx;
drop index conversations_team_idx;
drop index conversations_assignee_idx;
drop index messages_body_search_idx;
create index conversations_team_status_idx on conversations (team_id, status);
create index conversations_assignee_status_idx on conversations (assignee_id, status);
create index conversations_active_idx on conversations (status) where status <> 'resolved';
create index conversations_resolved_idx on conversations (resolved_at desc, id desc) where status = 'resolved';
-- Existing full pages gain room as they are pruned and vacuumed; new pages keep it from now on.
alter table conversations set (fillfactor = 80);

create or replace function parley_append_message(
  p_conversation_id uuid,
  p_contact_id uuid,
  p_client_id text,
  p_sender_type text,
  p_sender_id uuid,
  p_body text,
  p_private boolean,
  p_reopen boolean,
  p_agent_reply boolean,
  p_agent_id uuid default null
) returns table (
  r_contact_id uuid,
  r_team_id uuid,
  r_assignee_id uuid,
  r_status text,
  r_previous_status text,
  r_message_id uuid,
  r_seq bigint,
  r_created_at timestamptz,
  r_duplicate boolean,
  r_reopen_message_id uuid,
  r_reopen_seq bigint,
  r_reopen_created_at timestamptz
) language plpgsql volatile as $$
declare
  v_old record;
  v_msg record;
  v_conv record;
  v_sys_id uuid;
  v_sys_seq bigint;
  v_sys_at timestamptz;
begin
  -- A resend of a stored message changes nothing (checked again under the lock below).
  if p_client_id is not null then
    select m.id, m.seq, m.created_at into v_msg
      from messages m where m.conversation_id = p_conversation_id and m.client_id = p_client_id;
    if found then
      select c.contact_id, c.team_id, c.assignee_id, c.status into v_old
        from conversations c
        where c.id = p_conversation_id and (p_contact_id is null or c.contact_id = p_contact_id)
          and (p_agent_id is null or c.assignee_id is not distinct from p_agent_id or c.team_id is null
            or exists (select 1 from team_members tm where tm.team_id = c.team_id and tm.user_id = p_agent_id));
      if not found then
        return;
      end if;
      return query select v_old.contact_id, v_old.team_id, v_old.assignee_id, v_old.status::text,
        v_old.status::text, v_msg.id, v_msg.seq, v_msg.created_at, true, null::uuid, null::bigint,
        null::timestamptz;
      return;
    end if;
  end if;

  -- Fast path: the row exists, is the visitor's (or visible to the agent, against the live team
  -- membership), and needs no reopen. The UPDATE takes the row lock; the next writer of the
  -- conversation waits here and then sees this commit (gap-free seq).
  update conversations c set
    last_seq = c.last_seq + 1,
    last_public_seq = case when p_private then c.last_public_seq else c.last_seq + 1 end,
    last_activity_at = now(),
    updated_at = now(),
    last_message_preview = case when p_private then c.last_message_preview else left(p_body, 140) end,
    first_response_at = case when p_agent_reply and c.first_response_at is null then now()
      else c.first_response_at end
  where c.id = p_conversation_id
    and (p_contact_id is null or c.contact_id = p_contact_id)
    and (not p_reopen or c.status = 'open')
    and (p_agent_id is null or c.assignee_id is not distinct from p_agent_id or c.team_id is null
      or exists (select 1 from team_members tm where tm.team_id = c.team_id and tm.user_id = p_agent_id))
  returning c.last_seq, c.contact_id, c.team_id, c.assignee_id, c.status into v_conv;
  if found then
    insert into messages (conversation_id, seq, client_id, sender_type, sender_id, kind, body, private)
      values (p_conversation_id, v_conv.last_seq, p_client_id, p_sender_type, p_sender_id, 'text', p_body,
        p_private)
      on conflict (conversation_id, client_id) do nothing
      returning id, seq, created_at into v_msg;
    if found then
      return query select v_conv.contact_id, v_conv.team_id, v_conv.assignee_id, v_conv.status::text,
        v_conv.status::text, v_msg.id, v_msg.seq, v_msg.created_at, false, null::uuid, null::bigint,
        null::timestamptz;
      return;
    end if;
    -- The same client id was committed by a concurrent resend while this one waited for the
    -- lock: give the seq back (the row is still locked by this transaction, so it is the last
    -- one) and answer as a duplicate.
    update conversations c set
      last_seq = c.last_seq - 1,
      last_public_seq = (select coalesce(max(m.seq), 0) from messages m
        where m.conversation_id = p_conversation_id and not m.private and m.seq < c.last_seq)
    where c.id = p_conversation_id;
    select m.id, m.seq, m.created_at into v_msg
      from messages m where m.conversation_id = p_conversation_id and m.client_id = p_client_id;
    return query select v_conv.contact_id, v_conv.team_id, v_conv.assignee_id, v_conv.status::text,
      v_conv.status::text, v_msg.id, v_msg.seq, v_msg.created_at, true, null::uuid, null::bigint,
      null::timestamptz;
    return;
  end if;

  -- The previous path (0017): lock, tell "not found" from "not visible" from "reopen".
  select c.contact_id, c.team_id, c.assignee_id, c.status into v_old
    from conversations c
    where c.id = p_conversation_id and (p_contact_id is null or c.contact_id = p_contact_id)
    for update;
  if not found then
    return;
  end if;
  if p_agent_id is not null and not (
    v_old.assignee_id is not distinct from p_agent_id
    or v_old.team_id is null
    or exists (select 1 from team_members tm where tm.team_id = v_old.team_id and tm.user_id = p_agent_id)
  ) then
    return;
  end if;
  if p_client_id is not null then
    select m.id, m.seq, m.created_at into v_msg
      from messages m where m.conversation_id = p_conversation_id and m.client_id = p_client_id;
    if found then
      return query select v_old.contact_id, v_old.team_id, v_old.assignee_id, v_old.status::text,
        v_old.status::text, v_msg.id, v_msg.seq, v_msg.created_at, true, null::uuid, null::bigint,
        null::timestamptz;
      return;
    end if;
  end if;
  update conversations c set
    last_seq = c.last_seq + 1,
    last_public_seq = case when p_private then c.last_public_seq else c.last_seq + 1 end,
    last_activity_at = now(),
    updated_at = now(),
    last_message_preview = case when p_private then c.last_message_preview else left(p_body, 140) end,
    status = case when p_reopen then 'open' else c.status end,
    snoozed_until = case when p_reopen then null else c.snoozed_until end,
    resolved_at = case when p_reopen then null else c.resolved_at end,
    first_response_at = case when p_agent_reply and c.first_response_at is null then now()
      else c.first_response_at end
  where c.id = p_conversation_id
  returning c.last_seq, c.status into v_conv;
  insert into messages (conversation_id, seq, client_id, sender_type, sender_id, kind, body, private)
    values (p_conversation_id, v_conv.last_seq, p_client_id, p_sender_type, p_sender_id, 'text', p_body,
      p_private)
    returning id, seq, created_at into v_msg;
  if p_reopen and v_old.status <> 'open' then
    update conversations c set last_seq = c.last_seq + 1, last_public_seq = c.last_seq + 1
      where c.id = p_conversation_id
      returning c.last_seq into v_conv;
    insert into messages (conversation_id, seq, sender_type, kind, event)
      values (p_conversation_id, v_conv.last_seq, 'system', 'system',
        jsonb_build_object('type', 'status_changed', 'status', 'open', 'previousStatus', v_old.status,
          'reason', 'visitor_message'))
      returning id, seq, created_at into v_sys_id, v_sys_seq, v_sys_at;
  end if;
  return query select v_old.contact_id, v_old.team_id, v_old.assignee_id,
    (case when p_reopen then 'open' else v_old.status end)::text, v_old.status::text,
    v_msg.id, v_msg.seq, v_msg.created_at, false,
    v_sys_id, v_sys_seq, v_sys_at;
end;
$$;
