/* eslint-disable no-console -- the installer talks to a terminal (or prints JSON) */
// How the installer talks: human lines on stderr/stdout, or one JSON document with --json.
import type { Check, Verdict } from '../cli/doctor.ts';

export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  preflightFailed: 3,
  installFailed: 4,
  rolloutFailed: 5,
} as const;

export interface Reporter {
  json: boolean;
  step(message: string): void;
  checks(title: string, checks: Check[]): void;
  result: Record<string, unknown>;
  finish(code: number): number;
}

export function createReporter(json: boolean): Reporter {
  const result: Record<string, unknown> = {};
  const mark: Record<Verdict, string> = { pass: 'PASS', warn: 'WARN', fail: 'FAIL' };
  return {
    json,
    result,
    step(message) {
      if (!json) console.log(`==> ${message}`);
      else ((result.steps ??= []) as string[]).push(message);
    },
    checks(title, checks) {
      result.checks = [...((result.checks as Check[] | undefined) ?? []), ...checks];
      if (json) return;
      console.log(`==> ${title}`);
      for (const c of checks) {
        console.log(`  ${mark[c.verdict]}  ${c.name.padEnd(20)} ${c.detail}`);
        if (c.hint && c.verdict !== 'pass') console.log(`        ${''.padEnd(20)} fix: ${c.hint}`);
      }
    },
    finish(code) {
      if (json) console.log(JSON.stringify({ ok: code === 0, exitCode: code, ...result }, null, 2));
      return code;
    },
  };
}
