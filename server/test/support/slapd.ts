// A real OpenLDAP server (Debian `slapd`) for one test file: its own config and database in a
// temp directory, on a free loopback port, loaded with ldapadd, stopped after the tests.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll } from 'vitest';
import { startOnFreePort } from './ports.ts';

const run = promisify(execFile);
export const SLAPD = '/usr/sbin/slapd';
export const slapdAvailable = existsSync(SLAPD) && existsSync('/usr/bin/ldapadd');

export interface Slapd {
  url: string;
  suffix: string;
  adminDn: string;
  adminPassword: string;
  ldapadd(ldif: string): Promise<void>;
  ldapmodify(ldif: string): Promise<void>;
  stop(): Promise<void>;
}

async function waitForPort(port: number, deadline: number, exited: () => boolean): Promise<void> {
  for (;;) {
    // (Checked first: slapd that could not bind exits; a connect could reach whoever holds the port.)
    if (exited()) throw new Error(`slapd exited before listening on ${port}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`slapd did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startSlapd(): Promise<Slapd> {
  const dir = await mkdtemp(path.join(tmpdir(), 'parley-slapd-'));
  await mkdir(path.join(dir, 'db'));
  const suffix = 'dc=example,dc=com';
  const adminDn = `cn=admin,${suffix}`;
  const adminPassword = 'admin-secret';
  const conf = path.join(dir, 'slapd.conf');
  await writeFile(
    conf,
    [
      'include /etc/ldap/schema/core.schema',
      'include /etc/ldap/schema/cosine.schema',
      'include /etc/ldap/schema/inetorgperson.schema',
      'include /etc/ldap/schema/nis.schema',
      'modulepath /usr/lib/ldap',
      'moduleload back_mdb',
      `pidfile ${dir}/slapd.pid`,
      'database mdb',
      `suffix "${suffix}"`,
      `rootdn "${adminDn}"`,
      `rootpw ${adminPassword}`,
      `directory ${dir}/db`,
      'maxsize 10485760',
      // users may read the tree (the service account searches), and bind with their own password
      'access to attrs=userPassword by self write by anonymous auth by * none',
      'access to * by * read',
      '',
    ].join('\n'),
  );
  // slapd takes its port on the command line: a free one, and another if it was taken after all.
  const { url, child } = await startOnFreePort(async (port) => {
    const url = `ldap://127.0.0.1:${port}`;
    const child: ChildProcess = spawn(SLAPD, ['-f', conf, '-h', `${url}/`, '-d', '0'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      await waitForPort(
        port,
        Date.now() + 10_000,
        () => child.exitCode !== null || child.signalCode !== null,
      );
    } catch (err) {
      child.kill('SIGKILL');
      throw new Error(`${(err as Error).message}\n${stderr}`, { cause: err });
    }
    return { url, child };
  });
  const tool = async (cmd: string, ldif: string) => {
    const file = path.join(dir, `in-${Date.now()}-${Math.random()}.ldif`);
    await writeFile(file, ldif);
    await run(cmd, ['-x', '-H', url, '-D', adminDn, '-w', adminPassword, '-f', file]);
  };
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  };
  afterAll(stop);
  return {
    url,
    suffix,
    adminDn,
    adminPassword,
    ldapadd: (ldif) => tool('/usr/bin/ldapadd', ldif),
    ldapmodify: (ldif) => tool('/usr/bin/ldapmodify', ldif),
    stop,
  };
}
