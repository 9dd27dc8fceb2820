-- parley:compatible-with-previous: new tables that earlier code neither reads nor writes
-- The routing engine (modules/routing, docs/ROUTING.md): the queue of conversations that need an
-- agent, per-team routing settings, agent capacities, and what sticky assignment and round-robin
-- remember. Additive only: nothing existing changes and `conversations` gets no column (the
-- assignee stays in conversations.assignee_id, written through the conversations service).

-- Per-team engine settings. No row = the defaults (least-loaded, capacity 5, 3-minute first
-- response, 24-hour sticky window, no overflow).
create table routing_team_settings (
  team_id                 uuid primary key references teams (id) on delete cascade,
  strategy                text not null default 'least_loaded'
                            check (strategy in ('least_loaded', 'round_robin')),
  default_capacity        integer not null default 5 check (default_capacity between 1 and 1000),
  first_response_seconds  integer not null default 180 check (first_response_seconds between 10 and 86400),
  sticky_window_minutes   integer not null default 1440 check (sticky_window_minutes between 0 and 525600),
  overflow_team_id        uuid references teams (id) on delete set null,
  overflow_wait_seconds   integer check (overflow_wait_seconds between 1 and 86400),
  overflow_max_waiting    integer check (overflow_max_waiting between 1 and 100000),
  updated_at              timestamptz not null default now(),
  check (overflow_team_id is null or overflow_team_id <> team_id)
);

-- One row per agent the engine has dealt with: the agent's own capacity (null: the team's
-- default) and the time of their last automatic assignment (round-robin order). The row is also
-- the lock an assignment takes (FOR UPDATE) before counting the agent's load.
create table routing_agents (
  user_id           uuid primary key references users (id) on delete cascade,
  capacity          integer check (capacity between 1 and 1000),
  last_assigned_at  timestamptz not null default '-infinity',
  updated_at        timestamptz not null default now()
);

-- A capacity for one team membership, overriding the agent's own and the team's default.
create table routing_member_capacity (
  team_id    uuid not null references teams (id) on delete cascade,
  user_id    uuid not null references users (id) on delete cascade,
  capacity   integer not null check (capacity between 1 and 1000),
  updated_at timestamptz not null default now(),
  primary key (team_id, user_id)
);

-- The queue. 'waiting': needs an agent of team_id. 'assigned': the engine gave it to assignee_id,
-- who has not answered yet (first-response timer); the row goes once they answer.
create table routing_queue (
  conversation_id      uuid primary key references conversations (id) on delete cascade,
  team_id              uuid not null references teams (id) on delete cascade,
  contact_id           uuid not null,
  priority             text not null check (priority in ('urgent', 'vip', 'high', 'normal', 'low')),
  -- 0 urgent … 4 low: the queue's order is (priority_rank, waiting_since).
  priority_rank        smallint not null check (priority_rank between 0 and 4),
  state                text not null default 'waiting' check (state in ('waiting', 'assigned')),
  reason               text not null,
  preferred_agent_id   uuid,
  -- The agent who let it time out last: not offered to them again while others can take it.
  excluded_agent_id    uuid,
  waiting_since        timestamptz not null default now(),
  assignee_id          uuid,
  assigned_at          timestamptz,
  first_response_due   timestamptz,
  updated_at           timestamptz not null default now()
);
create index routing_queue_waiting on routing_queue (team_id, priority_rank, waiting_since)
  where state = 'waiting';
create index routing_queue_due on routing_queue (first_response_due) where state = 'assigned';
create index routing_queue_assignee on routing_queue (assignee_id) where state = 'assigned';

-- The last agent the engine (or anyone) gave each contact to, for sticky assignment.
create table routing_last_agent (
  contact_id  uuid primary key,
  agent_id    uuid not null references users (id) on delete cascade,
  at          timestamptz not null default now()
);
