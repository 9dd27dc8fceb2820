-- parley:compatible-with-previous: two new tables that earlier code does not read
-- Routing rules (modules/routing, docs/ROUTING.md "Rules"): per channel (website), ordered by
-- `position`; the first enabled rule whose conditions all hold gives the conversation its team,
-- priority and optional preferred agent. `conditions` is a JSON array validated by the service
-- (an empty array is a catch-all). A team that rules name cannot be deleted (teams.service asks
-- its usage providers first; `on delete restrict` is the database's own guard). Under the
-- previous release's code (a rollback), deleting a team that a rule names fails on that foreign
-- key instead of being refused with the list of users: nothing is lost either way.
create table routing_rules (
  id                 uuid primary key default gen_random_uuid(),
  channel_id         uuid not null references channels (id) on delete cascade,
  position           integer not null,
  name               text not null,
  enabled            boolean not null default true,
  conditions         jsonb not null default '[]',
  team_id            uuid not null references teams (id) on delete restrict,
  priority           text not null check (priority in ('urgent', 'vip', 'high', 'normal', 'low')),
  preferred_agent_id uuid references users (id) on delete set null,
  created_at         timestamptz not null default now(),
  updated_at         timestamptz not null default now()
);
create index routing_rules_channel on routing_rules (channel_id, position);
create index routing_rules_team on routing_rules (team_id);

-- What the widget reported about the visitor when the conversation started and that routing
-- rules read (today: the browser's language, navigator.language). One row per conversation that
-- reported something; kept here rather than on `conversations` (routing's own table).
create table routing_visitor_context (
  conversation_id uuid primary key references conversations (id) on delete cascade,
  language        text,
  created_at      timestamptz not null default now()
);
