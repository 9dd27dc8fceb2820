-- parley:compatible-with-previous: a new table that earlier code does not read
-- The key-ring canary: one row written on the first start with PARLEY_ENCRYPTION_KEYS, holding a
-- known text encrypted with the key ring and a keyed hash made with PARLEY_LOOKUP_KEY. Every start
-- checks that its keys still open it, and refuses to serve with a clear message when they do not
-- (a Secret replaced by another tool, a restore with other keys), instead of answering 500 for
-- every encrypted value. `parley keys rotate` re-encrypts it like any other value.
create table key_canary (
  id boolean primary key default true check (id),
  encrypted text not null,
  lookup_hash text not null,
  created_at timestamptz not null default now()
);
