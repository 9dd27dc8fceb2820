-- parley:compatible-with-previous: a nullable column, a wider check, and parley_append_message with an extra defaulted argument (calls with the old arguments still resolve)
-- Issue 3 leftovers.
--
-- 1. Attachments on a volume (ATTACHMENT_STORAGE=volume): the bytes live in a file under
--    ATTACHMENT_DIR named by storage_key (a path relative to that directory, unique per
--    attachment); the row is committed only after the file is durable (written to a temporary
--    file, fsynced, renamed), so a row never points to a missing file. Rows stored in the
--    database keep their bytes in `data` as before.
alter table attachments add column storage_key text;
alter table attachments drop constraint attachments_storage_check;
alter table attachments add constraint attachments_storage_check check (
  (storage = 'database' and storage_key is null)
  or (storage = 'volume' and data is null and storage_key is not null)
);
create unique index attachments_storage_key_key on attachments (storage_key) where storage_key is not null;

-- 2. The one-statement append (migrations/0012) also checks an agent's right to see the
--    conversation under the conversation's row lock (p_agent_id; null for visitors and admins).
drop function parley_append_message(uuid, uuid, text, text, uuid, text, boolean, boolean, boolean);
create function parley_append_message(
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
  select c.contact_id, c.team_id, c.assignee_id, c.status into v_old
    from conversations c
    where c.id = p_conversation_id and (p_contact_id is null or c.contact_id = p_contact_id)
    for update;
  if not found then
    return;
  end if;
  -- An agent (not an admin) sends only into a conversation they may see, checked under the row
  -- lock against the live team membership: a transfer or a team change that commits first
  -- is seen here, so not one more message gets through (the caller reports the same 404).
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
