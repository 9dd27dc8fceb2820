-- parley:compatible-with-previous: a new table
-- Canned replies: short texts agents insert into a reply, at three scopes.
--   personal: owned by one user (owner_id), only they see and manage it;
--   team:     belongs to a team (team_id), its members see it, supervisors of the team manage it;
--   global:   everyone sees it, admins manage it.
create table canned_replies (
  id uuid primary key default gen_random_uuid(),
  scope text not null check (scope in ('personal', 'team', 'global')),
  owner_id uuid references users (id) on delete cascade,
  team_id uuid references teams (id) on delete cascade,
  shortcut text not null check (length(shortcut) between 1 and 32),
  body text not null check (length(body) between 1 and 5000),
  category text not null default '' check (length(category) <= 40),
  created_by uuid references users (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint canned_replies_scope_owner check (
    (scope = 'personal' and owner_id is not null and team_id is null)
    or (scope = 'team' and team_id is not null and owner_id is null)
    or (scope = 'global' and owner_id is null and team_id is null)
  )
);

-- A shortcut is unique within its scope and owner (one user's, one team's, or the global set).
create unique index canned_replies_shortcut_key on canned_replies (
  scope,
  coalesce(owner_id, team_id, '00000000-0000-0000-0000-000000000000'::uuid),
  lower(shortcut)
);
create index canned_replies_owner_idx on canned_replies (owner_id) where owner_id is not null;
create index canned_replies_team_idx on canned_replies (team_id) where team_id is not null;
