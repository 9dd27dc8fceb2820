-- parley:compatible-with-previous: new tables only
-- Conversations: channels, contacts, conversations, messages, attachments, read state.
--
-- Sequence numbers: every message gets seq = conversations.last_seq + 1, assigned by an UPDATE of
-- the conversation row inside the message's transaction. The row lock serialises writers of one
-- conversation, and a rolled-back transaction rolls its increment back too, so seq is gap-free.

-- Server-side secrets generated once and shared by every replica (e.g. the visitor-token key
-- when PARLEY_VISITOR_TOKEN_SECRET is not set).
create table app_secrets (
  name text primary key,
  value bytea not null,
  created_at timestamptz not null default now()
);

-- Where conversations come from. Only the web widget exists today; the type column admits more.
create table channels (
  id uuid primary key default gen_random_uuid(),
  type text not null check (type in ('web_widget', 'api', 'wecom', 'email')),
  name text not null check (length(name) between 1 and 80),
  -- Key for identity verification: the customer's site sends user_id and
  -- HMAC-SHA256(user_id, identity_secret); only verified ids merge into a known contact.
  identity_secret text not null,
  default_team_id uuid references teams (id) on delete set null,
  settings jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

insert into channels (type, name, identity_secret)
values ('web_widget', 'Website', encode(sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')), 'hex'));

-- The customers. Anonymous visitors get one on first contact.
create table contacts (
  id uuid primary key default gen_random_uuid(),
  name text,
  email text,
  phone text,
  attributes jsonb not null default '{}'::jsonb,
  tags text[] not null default '{}',
  -- The customer's own user id, set only after HMAC identity verification.
  external_id text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index contacts_external_id_key on contacts (external_id) where external_id is not null;

create table conversations (
  id uuid primary key default gen_random_uuid(),
  channel_id uuid not null references channels (id),
  contact_id uuid not null references contacts (id) on delete cascade,
  team_id uuid references teams (id) on delete set null,
  assignee_id uuid references users (id) on delete set null,
  status text not null default 'open' check (status in ('open', 'pending', 'resolved', 'snoozed')),
  snoozed_until timestamptz,
  priority text not null default 'normal' check (priority in ('low', 'normal', 'high', 'urgent')),
  last_seq bigint not null default 0,
  -- Highest seq of a message the visitor may see (not private), for visitor unread counts.
  last_public_seq bigint not null default 0,
  last_activity_at timestamptz not null default now(),
  last_message_preview text not null default '',
  visitor_read_seq bigint not null default 0,
  first_response_at timestamptz,
  resolved_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint conversations_snooze check ((status = 'snoozed') = (snoozed_until is not null))
);
create index conversations_contact_idx on conversations (contact_id, created_at desc);
create index conversations_team_idx on conversations (team_id, last_activity_at desc, id desc);
create index conversations_assignee_idx on conversations (assignee_id, last_activity_at desc, id desc);
create index conversations_activity_idx on conversations (last_activity_at desc, id desc);
create index conversations_snoozed_idx on conversations (snoozed_until) where status = 'snoozed';

create table attachments (
  id uuid primary key default gen_random_uuid(),
  conversation_id uuid not null references conversations (id) on delete cascade,
  uploader_type text not null check (uploader_type in ('visitor', 'agent')),
  uploader_id uuid,
  file_name text not null,
  -- Decided by content sniffing, never by the client's claim or the extension.
  content_type text not null,
  size_bytes integer not null check (size_bytes >= 0),
  sha256 bytea not null,
  storage text not null default 'database' check (storage in ('database')),
  data bytea,
  created_at timestamptz not null default now()
);
create index attachments_conversation_idx on attachments (conversation_id);

create table messages (
  id uuid primary key default gen_random_uuid(),
  conversation_id uuid not null references conversations (id) on delete cascade,
  seq bigint not null,
  -- Client-generated id; a resend with the same id is the same message (idempotency).
  client_id text,
  sender_type text not null check (sender_type in ('visitor', 'agent', 'bot', 'system')),
  sender_id uuid,
  kind text not null check (kind in ('text', 'image', 'file', 'system')),
  body text not null default '',
  private boolean not null default false,
  attachment_id uuid references attachments (id) on delete set null,
  -- For kind = 'system': what happened ({"type": "assigned", ...}).
  event jsonb,
  recalled_at timestamptz,
  edited_at timestamptz,
  created_at timestamptz not null default now(),
  constraint messages_seq_key unique (conversation_id, seq),
  constraint messages_client_id_key unique (conversation_id, client_id)
);
create index messages_created_idx on messages (created_at);
create index messages_body_search_idx on messages using gin (to_tsvector('simple', body));

-- Agent read state: read up to this seq (the visitor's lives on conversations.visitor_read_seq).
create table conversation_reads (
  conversation_id uuid not null references conversations (id) on delete cascade,
  user_id uuid not null references users (id) on delete cascade,
  read_seq bigint not null default 0,
  updated_at timestamptz not null default now(),
  primary key (conversation_id, user_id)
);
