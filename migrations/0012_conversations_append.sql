-- parley:compatible-with-previous: a new function; nothing earlier code uses changes
-- Appending a chat message in ONE statement (one round trip, no explicit transaction):
-- lock the conversation row, look for the client id with a fresh snapshot taken after the
-- lock (so a concurrent resend that committed meanwhile is seen), and only then bump last_seq
-- and insert. A resend returns the stored row and bumps nothing, so seq stays gap-free; any
-- failure rolls back the whole statement. A visitor message that reopens a pending, snoozed or
-- resolved conversation also appends the "status_changed" system message, atomically.
-- Plain messages only; assignment, status changes and attachments use the transactional path.
create function parley_append_message(
  p_conversation_id uuid,
  p_contact_id uuid,
  p_client_id text,
  p_sender_type text,
  p_sender_id uuid,
  p_body text,
  p_private boolean,
  p_reopen boolean,
  p_agent_reply boolean
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
