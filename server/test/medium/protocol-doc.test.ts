// docs/PROTOCOL.md is what a third-party client is written from: every route it names must exist
// with the permission it states, and every route of the admin set-up API (users, teams, channels,
// sign-in) must be in it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { clientLimits } from '../../src/realtime/ws.routes.ts';
import { createTestApp } from '../support/app.ts';

const t = await createTestApp();
const doc = readFileSync(path.resolve(import.meta.dirname, '../../../docs/PROTOCOL.md'), 'utf8');
const routes = t.app.routeAccessTable.filter((r) => r.method !== 'HEAD');
const shape = (url: string) => url.replace(/:[A-Za-z]+/g, ':p').replace(/\/$/, '');
const key = (method: string, url: string) => `${method} ${shape(url)}`;
const registered = new Map(routes.map((r) => [key(r.method, r.url), r.access]));

/** Every "METHOD /api/v1/…" the document names (the `\|` shorthand of the tables included). */
function documented(): { method: string; url: string; line: string }[] {
  const out: { method: string; url: string; line: string }[] = [];
  for (const line of doc.split('\n')) {
    for (const m of line.matchAll(
      /\b((?:GET|POST|PUT|PATCH|DELETE)(?:\/(?:GET|POST|PUT|PATCH|DELETE))*) (\/api\/v1\/[^\s`{?<]*)/g,
    )) {
      for (const method of m[1]!.split('/')) {
        out.push({ method, url: m[2]!, line });
        // "`POST /api/v1/conversations/:id/resolve` \| `/reopen` \| `/pending`"
        for (const alt of line.slice(m.index).matchAll(/\\\| `(\/[a-z-]+)`/g)) {
          out.push({ method, url: m[2]!.replace(/\/[a-z-]+$/, alt[1]!), line });
        }
      }
    }
  }
  return out;
}

describe('docs/PROTOCOL.md', () => {
  it('names only routes that exist, with the permission the server enforces', () => {
    const named = documented();
    expect(named.length).toBeGreaterThan(50);
    const missing = named.filter((d) => !registered.has(key(d.method, d.url)));
    expect(missing.map((d) => `${d.method} ${d.url}`)).toEqual([]);
    // A table row "| `METHOD /path` [permission] | …" states the route's access exactly.
    for (const d of named) {
      const stated = new RegExp(
        `^\\| \`${d.method} ${d.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\` \\[([a-z_.]+)\\]`,
      ).exec(d.line);
      if (stated) expect(registered.get(key(d.method, d.url)), d.line).toBe(stated[1]);
    }
  });

  it('documents every route of the set-up API: sign-in, users, teams, channels', () => {
    const named = new Set(documented().map((d) => key(d.method, d.url)));
    const setUp = routes.filter((r) =>
      /^\/api\/v1\/(auth\/(login|logout|me|password)|users|teams|channels)(\/|$)/.test(r.url),
    );
    expect(setUp.length).toBeGreaterThan(15);
    expect(setUp.map((r) => key(r.method, r.url)).filter((k) => !named.has(k))).toEqual([]);
  });

  it('shows the ready.limits a server with the default settings sends', () => {
    const block = /`ready\.limits` states every limit[^]*?```json\n([^]*?)```/.exec(doc);
    expect(block).not.toBeNull();
    expect(JSON.parse(block![1]!)).toEqual(clientLimits(loadConfig({})));
  });
});
