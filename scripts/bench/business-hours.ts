// The business-hours arithmetic alone (server/src/modules/business-hours/calendar-math.ts): how
// fast an SLA clock can be computed. A Mon–Fri 09:00–12:00 + 13:00–18:00 calendar in
// Asia/Shanghai with the 2025 and 2026 PRC schedules (and the same in Europe/Berlin, a DST zone);
// N random start instants over 2025–2026 and N random durations up to 72 business hours:
//
//   node scripts/bench/business-hours.ts            # N = 1,000,000, 3 runs, medians printed
//   node scripts/bench/business-hours.ts --n 200000 --runs 5
//
// Compared with the limit issue 17 sets for its SLA scan: all at-risk tickets among 1,000,000 open
// ones within 1 s — i.e. 1,000,000 due-time computations (addBusinessTime) must take well under
// 1 s on this machine (the scan also reads the tickets). One process, one core; no database.
import { parseArgs } from 'node:util';
import {
  addBusinessTime,
  businessTimeBetween,
  compileCalendar,
  isOpen,
  nextOpening,
  type Calendar,
  type WeeklyHours,
} from '../../server/src/modules/business-hours/calendar-math.ts';
import { loadHolidayData, prcYearEntries } from '../../server/src/modules/business-hours/holiday-data.ts';

const { values: opt } = parseArgs({
  options: { n: { type: 'string', default: '1000000' }, runs: { type: 'string', default: '3' } },
});
const N = Number(opt.n);
const RUNS = Number(opt.runs);
const LIMIT_MS = 1000;

const day = [
  { start: '09:00', end: '12:00' },
  { start: '13:00', end: '18:00' },
];
const weekly: WeeklyHours = { mon: day, tue: day, wed: day, thu: day, fri: day, sat: [], sun: [] };
const data = loadHolidayData();
const y25 = prcYearEntries(data, 2025)!;
const y26 = prcYearEntries(data, 2026)!;
const spec = (timeZone: string) => ({
  timeZone,
  weekly,
  holidays: [...y25.holidays, ...y26.holidays],
  workdays: [...y25.workdays, ...y26.workdays],
});

let seed = 42;
const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
const from = Date.parse('2025-01-01T00:00:00Z');
const span = Date.parse('2026-12-01T00:00:00Z') - from;
const starts = Float64Array.from({ length: N }, () => from + Math.floor(rand() * span));
const durations = Float64Array.from({ length: N }, () => Math.floor(rand() * 72 * 3_600_000));

/** CPU time (user + system, ms) of fn: on a shared machine wall time measures the neighbours too. */
function time(fn: () => void): number {
  const t0 = process.cpuUsage();
  fn();
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / 1000;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function bench(name: string, cal: Calendar) {
  const results: Record<string, number[]> = {
    addBusinessTime: [],
    businessTimeBetween: [],
    isOpen: [],
    nextOpening: [],
  };
  const due = new Float64Array(N);
  let sink = 0;
  for (let r = 0; r < RUNS; r++) {
    results.addBusinessTime!.push(
      time(() => {
        for (let i = 0; i < N; i++) due[i] = addBusinessTime(cal, starts[i]!, durations[i]!)!;
      }),
    );
    results.businessTimeBetween!.push(
      time(() => {
        for (let i = 0; i < N; i++) sink += businessTimeBetween(cal, starts[i]!, due[i]!);
      }),
    );
    results.isOpen!.push(
      time(() => {
        for (let i = 0; i < N; i++) sink += isOpen(cal, starts[i]!) ? 1 : 0;
      }),
    );
    results.nextOpening!.push(
      time(() => {
        for (let i = 0; i < N; i++) sink += nextOpening(cal, starts[i]!)!;
      }),
    );
  }
  // The inverse property on every input: the figures are of correct answers.
  for (let i = 0; i < N; i++) {
    if (businessTimeBetween(cal, starts[i]!, due[i]!) !== durations[i]) throw new Error(`mismatch at ${i}`);
  }
  console.log(`\n${name}: ${N.toLocaleString('en')} calls each, CPU time, median of ${RUNS} runs (all runs)`);
  for (const [fn, ms] of Object.entries(results)) {
    const m = median(ms);
    console.log(
      `  ${fn.padEnd(20)} ${m.toFixed(0).padStart(6)} ms  ${((m * 1e6) / N).toFixed(0).padStart(5)} ns/call` +
        `  (${ms.map((x) => x.toFixed(0)).join(', ')})`,
    );
  }
  const add = median(results.addBusinessTime!);
  const scaled = (add * 1_000_000) / N;
  console.log(
    `  limit: 1,000,000 due times ≤ ${LIMIT_MS} ms → measured ${scaled.toFixed(0)} ms: ${scaled <= LIMIT_MS ? 'PASS' : 'FAIL'}`,
  );
  return sink;
}

console.log(`node ${process.version}, durations up to 72 business hours, starts over 2025-01-01..2026-12-01`);
bench('Asia/Shanghai (PRC 2025 + 2026)', compileCalendar(spec('Asia/Shanghai')));
bench('Europe/Berlin (same hours and days, DST)', compileCalendar(spec('Europe/Berlin')));
