// How the widget says when the team opens: weekday and time in the team's zone, the date when a
// week or more away, the zone's name when the visitor's browser is elsewhere.
import { describe, expect, it } from 'vitest';
import { formatOpening } from '../src/off-hours.ts';

const viewer = Intl.DateTimeFormat().resolvedOptions().timeZone;
const zoneNote = (tz: string) => viewer !== tz;

describe('formatOpening', () => {
  const monday9 = '2026-12-07T01:00:00.000Z'; // Monday 09:00 in Shanghai
  const friday = Date.parse('2026-12-04T20:00:00+08:00');

  it('says weekday and time in the team zone, in Chinese and English', () => {
    const zh = formatOpening(monday9, 'Asia/Shanghai', 'zh-CN', friday);
    const en = formatOpening(monday9, 'Asia/Shanghai', 'en', friday);
    expect(zh).toMatch(/^周一 (GMT\+8 )?09:00$/);
    expect(en).toMatch(/^Mon 09:00( GMT\+8)?$/);
    expect(zh.includes('GMT+8')).toBe(zoneNote('Asia/Shanghai'));
  });

  it('adds the date when the opening is a week or more away (after a long holiday)', () => {
    const afterHoliday = '2026-10-08T01:00:00.000Z'; // Thursday 8 October 09:00 in Shanghai
    const zh = formatOpening(afterHoliday, 'Asia/Shanghai', 'zh-CN', Date.parse('2026-09-30T19:00:00+08:00'));
    expect(zh).toMatch(/^10月8日周四 (GMT\+8 )?09:00$/);
  });

  it('uses the team zone, not the browser’s', () => {
    const berlin = formatOpening('2026-12-07T08:00:00.000Z', 'Europe/Berlin', 'en', friday);
    expect(berlin).toMatch(/^Mon 09:00/);
  });
});
