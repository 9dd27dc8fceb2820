// The real `parley serve` process: start-up, first admin, readiness, database outages, shutdown.
import net from 'node:net';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.ts';
import { createTestDatabase } from '../support/db.ts';
import { eventually, getJson, PROCESS_TEST_MS, runParley } from '../support/process.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';

async function login(port: number, username: string, password: string) {
  return fetch(`http://127.0.0.1:${port}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
}

function bannerCredentials(output: string) {
  const username = /Username: (\S+)/.exec(output)?.[1];
  const password = /Password: (\S+)/.exec(output)?.[1];
  return { username, password };
}

describe('parley serve', { timeout: PROCESS_TEST_MS }, () => {
  it('migrates, prints the first admin once, serves, and exits 0 within 10 s on SIGTERM', async () => {
    const db = await createTestDatabase({ dropAfterAll: true });
    const parley = runParley(['serve'], { DATABASE_URL: db.url, PARLEY_PORT: '0' });
    const port = await parley.port();
    await parley.waitFor(/Parley is ready/);
    const { username, password } = bannerCredentials(parley.output());
    expect(username).toBe('admin');
    expect(password).toMatch(/^[A-Za-z0-9]{20}$/);
    // The password is on the banner only, never in a JSON log line.
    for (const line of parley
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))) {
      expect(line).not.toContain(password);
    }
    expect((await getJson(port, '/healthz')).status).toBe(200);
    expect((await getJson(port, '/readyz')).status).toBe(200);
    expect((await login(port, username!, password!)).status).toBe(200);

    const { code, ms } = await parley.stop('SIGTERM');
    expect(code).toBe(0);
    expect(ms).toBeLessThan(10_000);

    // Second start on the same database: no new admin, no banner.
    const again = runParley(['serve'], { DATABASE_URL: db.url, PARLEY_PORT: '0' });
    await again.waitFor(/Parley is ready/);
    expect(again.output()).not.toContain('Password:');
    expect((await again.stop()).code).toBe(0);
  });

  it('two replicas starting together on a new database: one migration, one admin', async () => {
    const db = await createTestDatabase();
    const pgc = new pg.Client({ connectionString: db.url });
    await pgc.connect();
    await pgc.query('drop schema public cascade; create schema public;');
    await pgc.end();
    const a = runParley(['serve'], { DATABASE_URL: db.url, PARLEY_PORT: '0' });
    const b = runParley(['serve'], { DATABASE_URL: db.url, PARLEY_PORT: '0' });
    await Promise.all([a.waitFor(/Parley is ready/), b.waitFor(/Parley is ready/)]);
    const banners = [a, b].filter((p) => p.output().includes('Password:'));
    expect(banners).toHaveLength(1);
    await Promise.all([a.stop(), b.stop()]);
  });

  it('starts while PostgreSQL is down, reports 503, and recovers by itself when it returns (and again after a restart)', async () => {
    const db = await createTestDatabase();
    const target = new URL(db.url);
    const proxy = new TcpProxy(await freePort(), {
      host: target.hostname,
      port: Number(target.port || 5432),
    });
    const viaProxy = new URL(db.url);
    viaProxy.port = String(proxy.port);
    const parley = runParley(['serve'], {
      DATABASE_URL: viaProxy.toString(),
      PARLEY_PORT: '0',
      PARLEY_INITIAL_ADMIN_PASSWORD: 'first-admin-pass-1',
      DATABASE_CONNECT_TIMEOUT_MS: '1000',
    });
    const port = await parley.port();
    await parley.waitFor(/database not available yet/);
    const down = await getJson(port, '/readyz');
    expect(down.status).toBe(503);
    expect(down.body.checks.database.ok).toBe(false);
    expect(down.body.checks.database.detail).toMatch(/connection refused/);
    expect((await getJson(port, '/healthz')).status).toBe(200);

    await proxy.start();
    await eventually(
      () => getJson(port, '/readyz'),
      (r) => r.status === 200,
      30_000,
    );
    expect((await login(port, 'admin', 'first-admin-pass-1')).status).toBe(200);

    // The database "restarts": every connection is cut and nothing answers for a while.
    await proxy.stop();
    await eventually(
      () => getJson(port, '/readyz'),
      (r) => r.status === 503,
      10_000,
    );
    const during = await login(port, 'admin', 'first-admin-pass-1');
    expect(during.status).toBe(500);
    expect(JSON.stringify(await during.json())).not.toMatch(/ECONNREFUSED|postgres:/);
    await proxy.start();
    await eventually(
      () => getJson(port, '/readyz'),
      (r) => r.status === 200,
      15_000,
    );
    expect((await login(port, 'admin', 'first-admin-pass-1')).status).toBe(200);
    expect((await parley.stop()).code).toBe(0);
    await proxy.stop();
  });

  it('refuses to start when an applied migration was changed, saying what to do', async () => {
    const db = await createTestDatabase();
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    await c.query("update schema_migrations set checksum = 'tampered' where version = 1");
    await c.end();
    const parley = runParley(['serve'], { DATABASE_URL: db.url, PARLEY_PORT: '0' });
    const { code } = await parley.exited();
    expect(code).toBe(1);
    expect(parley.output()).toMatch(/0001_foundation.sql was changed after it was applied/);
    expect(parley.output()).toMatch(/restore the original file/);
  });

  it('stops with exit 1 when its port is taken, naming the port', async () => {
    // (A supervisor restarts a failed service; an exit 0 here read as a clean stop.)
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const db = await createTestDatabase();
      const parley = runParley(['serve'], {
        DATABASE_URL: db.url,
        PARLEY_HOST: '127.0.0.1',
        PARLEY_PORT: String(port),
      });
      const { code } = await parley.exited();
      expect(parley.output()).toMatch(new RegExp(`EADDRINUSE.*127\\.0\\.0\\.1:${port}`));
      expect(code).toBe(1);
    } finally {
      taken.close();
    }
  });

  it('stops at start-up on a bad setting, naming the variable', async () => {
    const parley = runParley(['serve'], { DATABASE_URL: 'mysql://nope/x', PARLEY_PORT: '70000' });
    const { code } = await parley.exited();
    expect(code).toBe(78);
    expect(parley.output()).toMatch(/DATABASE_URL: expected a postgres:\/\/ URL/);
    expect(parley.output()).toMatch(/PARLEY_PORT: expected a number from 0 to 65535/);
  });
});
