// Which archives to keep: the newest verified archive of each of the last `keepDaily` days that
// have one, and of each of the last `keepWeekly` ISO weeks (days and weeks in the configured
// time zone). Only archives whose verification passed are ever pruned: an unverified or failed
// archive may be the only copy of something, so a person decides about it.
export interface RetentionCandidate {
  name: string;
  createdAt: Date;
  /** 'passed' | 'failed' | null (never verified). */
  verification: 'passed' | 'failed' | null;
}

export interface RetentionPlan {
  keep: { name: string; reason: string }[];
  prune: string[];
}

function localDate(d: Date, timezone: string): { y: number; m: number; day: number } {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone: timezone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).formatToParts(d);
  const get = (t: string) => Number(parts.find((p) => p.type === t)!.value);
  return { y: get('year'), m: get('month'), day: get('day') };
}

function isoWeek(y: number, m: number, day: number): string {
  const date = new Date(Date.UTC(y, m - 1, day));
  const weekday = date.getUTCDay() || 7;
  date.setUTCDate(date.getUTCDate() + 4 - weekday); // the Thursday of this ISO week
  const yearStart = Date.UTC(date.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((date.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${date.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

export function planRetention(
  archives: RetentionCandidate[],
  opts: { keepDaily: number; keepWeekly: number; timezone: string },
): RetentionPlan {
  const verified = archives
    .filter((a) => a.verification === 'passed')
    .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
  const keep = new Map<string, string>();
  const days = new Set<string>();
  const weeks = new Set<string>();
  for (const a of verified) {
    const { y, m, day } = localDate(a.createdAt, opts.timezone);
    const dayKey = `${y}-${String(m).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
    const weekKey = isoWeek(y, m, day);
    if (!days.has(dayKey) && days.size < opts.keepDaily) {
      days.add(dayKey);
      keep.set(a.name, `newest verified of ${dayKey}`);
    }
    if (!weeks.has(weekKey) && weeks.size < opts.keepWeekly) {
      weeks.add(weekKey);
      if (!keep.has(a.name)) keep.set(a.name, `newest verified of week ${weekKey}`);
    }
  }
  const result: RetentionPlan = { keep: [], prune: [] };
  for (const a of archives) {
    if (a.verification !== 'passed')
      result.keep.push({ name: a.name, reason: `not verified (${a.verification ?? 'never'})` });
    else if (keep.has(a.name)) result.keep.push({ name: a.name, reason: keep.get(a.name)! });
    else result.prune.push(a.name);
  }
  return result;
}
