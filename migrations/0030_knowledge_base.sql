-- parley:compatible-with-previous: new tables only; earlier code neither reads nor writes them
-- The knowledge base (issue 16, point 1): FAQ entries with their similar questions, a category
-- tree, every edit's snapshot, synonym groups, a domain dictionary, and import jobs.

create table kb_categories (
  id         uuid primary key default gen_random_uuid(),
  parent_id  uuid references kb_categories (id) on delete restrict,
  name       text not null check (length(name) between 1 and 60),
  position   integer not null default 0,
  created_at timestamptz not null default now()
);
-- Sibling names are unique (case-insensitive); top-level categories are siblings of each other.
create unique index kb_categories_sibling_name
  on kb_categories (coalesce(parent_id, '00000000-0000-0000-0000-000000000000'::uuid), lower(name));

create table kb_entries (
  id            uuid primary key default gen_random_uuid(),
  -- The key an imported file gave the entry (the `id` of a JSON Lines row); eval files name it.
  external_id   text unique check (external_id is null or length(external_id) between 1 and 200),
  question      text not null,
  -- The standard question folded for the uniqueness check (trimmed, spaces collapsed, lower case).
  question_key  text not null unique,
  similar_questions text[] not null default '{}',
  answer        text not null,
  -- [{ "kind": "link" | "image", "url": "https://…", "title": "…" }]: shown as text and links.
  attachments   jsonb not null default '[]',
  quick_replies text[] not null default '{}',
  category_id   uuid references kb_categories (id) on delete set null,
  tags          text[] not null default '{}',
  -- null: every website/channel; otherwise only these channels.
  channel_ids   uuid[],
  valid_from    timestamptz,
  valid_until   timestamptz,
  enabled       boolean not null default true,
  version       integer not null default 1,
  created_by    uuid references users (id) on delete set null,
  updated_by    uuid references users (id) on delete set null,
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now(),
  check (valid_from is null or valid_until is null or valid_from < valid_until)
);
create index kb_entries_category on kb_entries (category_id);

-- One row per edit: the entry as it was after the edit (or before a deletion). No foreign key, so
-- the history of a deleted entry stays readable.
create table kb_entry_versions (
  entry_id   uuid not null,
  version    integer not null,
  action     text not null check (action in ('create', 'update', 'enable', 'disable', 'delete', 'import')),
  snapshot   jsonb not null,
  actor_id   uuid references users (id) on delete set null,
  actor_name text,
  created_at timestamptz not null default now(),
  primary key (entry_id, version)
);

create table kb_synonym_groups (
  id         uuid primary key default gen_random_uuid(),
  words      text[] not null check (cardinality(words) >= 2),
  updated_by uuid references users (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table kb_dictionary (
  id         uuid primary key default gen_random_uuid(),
  word       text not null check (length(word) between 1 and 40),
  kind       text not null default 'term' check (kind in ('product', 'term')),
  created_by uuid references users (id) on delete set null,
  created_at timestamptz not null default now()
);
create unique index kb_dictionary_word on kb_dictionary (lower(word));

-- An import (or its dry run) from the console: progress and the per-row report, so any replica
-- can answer "how far is it" while the replica that received the file works on it.
create table kb_imports (
  id          uuid primary key default gen_random_uuid(),
  format      text not null check (format in ('xlsx', 'csv', 'jsonl')),
  file_name   text not null,
  dry_run     boolean not null,
  status      text not null default 'running' check (status in ('running', 'done', 'failed')),
  total       integer not null default 0,
  processed   integer not null default 0,
  created     integer not null default 0,
  updated     integer not null default 0,
  -- [{ "row": 3, "field": "answer", "message": "…" }]
  errors      jsonb not null default '[]',
  encoding    text,
  created_by  uuid references users (id) on delete set null,
  created_at  timestamptz not null default now(),
  finished_at timestamptz
);
