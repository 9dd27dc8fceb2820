-- parley:incompatible-with-previous: contacts written from now on hold key-ring ciphertext in name/email/phone, which earlier code shows as it is
-- Contact personal data at rest. With PARLEY_ENCRYPTION_KEYS set, contacts.name/email/phone hold
-- key-ring ciphertext; exact lookups go through keyed hashes (HMAC-SHA-256 of the normalised
-- value), and custom attributes marked sensitive live encrypted in sensitive_enc.
alter table contacts add column email_lookup text;
alter table contacts add column phone_lookup text;
alter table contacts add column sensitive_enc text;
create index contacts_email_lookup_idx on contacts (email_lookup) where email_lookup is not null;
create index contacts_phone_lookup_idx on contacts (phone_lookup) where phone_lookup is not null;

-- Two-step erasure of a contact (data-subject request): the confirmation token's hash, who
-- asked, and until when it is valid.
create table contact_erasure_requests (
  token_hash bytea primary key,
  contact_id uuid not null references contacts (id) on delete cascade,
  requested_by uuid not null references users (id) on delete cascade,
  expires_at timestamptz not null
);
