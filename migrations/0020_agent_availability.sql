-- parley:compatible-with-previous: a new table that earlier code does not read
-- Agent availability: the status an agent sets in the console (online, busy, away, offline).
-- Additive: a new table, nothing existing changes. Routing (a later migration) will read it to
-- decide who may receive new conversations. An agent without a row has never chosen: online.
create table agent_availability (
  user_id    uuid primary key references users (id) on delete cascade,
  status     text not null check (status in ('online', 'busy', 'away', 'offline')),
  updated_at timestamptz not null default now()
);
