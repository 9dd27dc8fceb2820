-- parley:compatible-with-previous: a nullable column earlier code does not read
-- The page a widget visitor was on when they started the conversation (the embedding page's
-- location.href and document.title, sent by the widget), shown to agents only. Null for
-- conversations from earlier releases and from clients that do not send it. The two values are
-- nullable columns, read by no earlier code.
alter table conversations add column source_url text, add column source_title text;
