import { describe, expect, it } from 'vitest';
import { planRetention, type RetentionCandidate } from '../../src/modules/backup/retention.ts';

const at = (iso: string, verification: RetentionCandidate['verification'] = 'passed', name = iso) => ({
  name,
  createdAt: new Date(iso),
  verification,
});

describe('backup retention', () => {
  it('keeps the newest verified archive per day and per week, and prunes the rest', () => {
    const archives = [
      at('2026-11-21T02:30:00Z'),
      at('2026-11-21T01:00:00Z'), // same day as above, older: pruned
      at('2026-11-20T02:30:00Z'),
      at('2026-11-19T02:30:00Z'), // not among the 2 newest days, and the 20th is newer in the same ISO week
      at('2026-11-12T02:30:00Z'), // newest of the previous week: kept as weekly
      at('2026-11-11T02:30:00Z'),
      at('2026-10-01T02:30:00Z'), // beyond 2 weeks
    ];
    const plan = planRetention(archives, { keepDaily: 2, keepWeekly: 2, timezone: 'UTC' });
    expect(plan.keep.map((k) => k.name).sort()).toEqual(
      ['2026-11-12T02:30:00Z', '2026-11-20T02:30:00Z', '2026-11-21T02:30:00Z'].sort(),
    );
    expect(plan.prune.sort()).toEqual(
      ['2026-10-01T02:30:00Z', '2026-11-11T02:30:00Z', '2026-11-19T02:30:00Z', '2026-11-21T01:00:00Z'].sort(),
    );
  });

  it('never prunes an archive that failed or was never verified', () => {
    const plan = planRetention(
      [at('2026-11-21T02:30:00Z'), at('2026-01-01T00:00:00Z', 'failed'), at('2025-01-01T00:00:00Z', null)],
      { keepDaily: 1, keepWeekly: 0, timezone: 'UTC' },
    );
    expect(plan.prune).toEqual([]);
    expect(plan.keep.find((k) => k.name.startsWith('2025'))?.reason).toBe('not verified (never)');
  });

  it('counts days in the configured time zone', () => {
    // 23:30 UTC on the 20th is already the 21st in Shanghai: same local day as 02:30 on the 21st.
    const archives = [at('2026-11-21T02:30:00Z'), at('2026-11-20T23:30:00Z')];
    expect(planRetention(archives, { keepDaily: 2, keepWeekly: 0, timezone: 'Asia/Shanghai' }).prune).toEqual(
      ['2026-11-20T23:30:00Z'],
    );
    expect(planRetention(archives, { keepDaily: 2, keepWeekly: 0, timezone: 'UTC' }).prune).toEqual([]);
  });
});
