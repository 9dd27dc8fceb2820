-- parley:compatible-with-previous: a defaulted column and a new table
-- Transcript masking (the security setting transcriptMasking, off by default). When on, phone
-- numbers, PRC ID-card numbers and bank-card numbers typed in chat are stored masked in
-- messages.body: that is the text agents, WebSocket events, previews, search, audit details and
-- exports see. The text as typed is kept apart, encrypted with the key ring, and only comes back
-- through an audited reveal (pii.reveal) or the data subject's own export.
alter table messages add column masked boolean not null default false;

create table message_originals (
  -- Deleting the message (conversation deletion, data-subject erasure, retention) deletes this.
  message_id uuid primary key references messages (id) on delete cascade,
  -- Key-ring ciphertext of the text as typed, bound to its message ("messages.original:<id>").
  original_enc text not null,
  created_at timestamptz not null default now()
);
