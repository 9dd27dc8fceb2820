-- parley:compatible-with-previous: two new tables that earlier code does not read
-- Business hours (issue 15 point 5, shared with the SLA clock of issue 17): calendars of weekly
-- opening hours in a time zone, with holidays and make-up working days (调休), and the link of a
-- team to its calendar. A team without a link is always open. The holiday and make-up lists are
-- JSON on the calendar row: they are read and written whole, always with the calendar, and
-- checked by the service (server/src/modules/business-hours/calendar-math.ts) before saving.
create table business_calendars (
  id         uuid primary key default gen_random_uuid(),
  name       text not null check (length(name) between 1 and 80),
  time_zone  text not null default 'Asia/Shanghai',
  -- {"mon": [{"start": "09:00", "end": "18:00"}], ..., "sun": []}
  weekly     jsonb not null,
  -- [{"name": "国庆节", "from": "2026-10-01", "to": "2026-10-07", "source": "prc"}]
  holidays   jsonb not null default '[]',
  -- [{"name": "调休上班", "date": "2026-10-10", "hours": null, "source": "prc"}]
  workdays   jsonb not null default '[]',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index business_calendars_name_key on business_calendars (lower(name));

create table team_calendars (
  team_id     uuid primary key references teams (id) on delete cascade,
  -- A calendar in use cannot be deleted: the service names the teams that use it.
  calendar_id uuid not null references business_calendars (id) on delete restrict,
  updated_at  timestamptz not null default now()
);
create index team_calendars_calendar_idx on team_calendars (calendar_id);
