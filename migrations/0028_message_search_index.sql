-- parley:compatible-with-previous: new tables and triggers only; earlier code keeps searching by ILIKE and its writes are captured by the triggers
-- Message search index (docs/SEARCH.md). The chat write path pays one small insert per message
-- (the change log below), written by a trigger in the message's own transaction; a background
-- indexer (one replica at a time) turns changes into tokens a GIN index serves.

-- The durable change log: one row per message to (re)index. The indexer deletes the rows it
-- handles in the transaction that writes their index entries, so a change committed late (ids
-- and seqs do not commit in order) is still there when the indexer next looks: nothing is missed,
-- whatever the commit order. No index and no foreign key: a message pays one heap insert here,
-- nothing more. The table is a queue, small while the indexer keeps up: the indexer, the tail
-- read of a search and the delete trigger read it whole (the indexer takes the lowest ids first).
create table search_changes (
  id bigint generated always as identity,
  message_id uuid not null,
  created_at timestamptz not null default now()
);

-- One row per indexed message: its tokens (CJK bigrams, Latin/digit trigrams, run tails; see
-- modules/search/tokenizer.ts). Rows leave with their message (erasure, retention, deletion) by
-- the cascade, in the same transaction.
create table search_entries (
  message_id uuid primary key references messages (id) on delete cascade,
  conversation_id uuid not null,
  private boolean not null,
  tokens tsvector not null
);
create index search_entries_tokens_idx on search_entries using gin (tokens);
-- A common word is checked conversation by conversation, in list order, through its entries.
create index search_entries_conversation_idx on search_entries (conversation_id);

-- The build of the index over messages that existed before it (`parley search reindex`):
-- messages are walked in id order; `cursor` is the last id done, committed with each batch, so a
-- killed build resumes where it stopped. `complete` is true when every message is covered
-- (indexed or in the change log); until then, search falls back to scanning messages.
create table search_state (
  id int primary key default 1 check (id = 1),
  complete boolean not null,
  cursor uuid,
  built bigint not null default 0,
  started_at timestamptz,
  finished_at timestamptz,
  updated_at timestamptz not null default now()
);
insert into search_state (complete, cursor, started_at)
  select not exists (select 1 from messages), null, null;

create function parley_search_enqueue() returns trigger language plpgsql as $$
begin
  insert into search_changes (message_id) values (new.id);
  return null;
end $$;

-- An edit or a recall removes the old entry in the same transaction and queues the message: the
-- indexer indexes the new text, or (recalled) makes sure an entry it was writing concurrently goes.
create function parley_search_message_changed() returns trigger language plpgsql as $$
begin
  delete from search_entries where message_id = new.id;
  insert into search_changes (message_id) values (new.id);
  return null;
end $$;

-- A deleted message (erasure, retention, conversation deletion) leaves no id in the change log,
-- in the same transaction. Statement-level: one pass over the (small) queue per deleting statement.
create function parley_search_messages_deleted() returns trigger language plpgsql as $$
begin
  delete from search_changes where message_id in (select id from deleted);
  return null;
end $$;

create trigger messages_search_delete after delete on messages
  referencing old table as deleted for each statement execute function parley_search_messages_deleted();
create trigger messages_search_insert after insert on messages
  for each row when (new.body <> '') execute function parley_search_enqueue();
create trigger messages_search_update after update of body, recalled_at on messages
  for each row when (old.body is distinct from new.body or old.recalled_at is distinct from new.recalled_at)
  execute function parley_search_message_changed();
