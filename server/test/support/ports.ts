// Ports for test processes that must know their port before they start: Parley's public URL names
// it (CSRF origin, widget frame-ancestors), a database proxy is "down" (nothing listening) at
// first, slapd takes it on its command line. Where a process can listen on 0 and say where it
// listens, tests do that instead (runParley with PARLEY_PORT=0 and port()).
//
// A port from freePort() lies BELOW the kernel's ephemeral range, so the OS never hands it out
// by itself (to another process's listen(0) or to an outgoing connection) between the check and
// the start. Only another test choosing the same one at random could take it; startOnFreePort()
// then starts again on another port.
import { readFileSync } from 'node:fs';
import net from 'node:net';

function ephemeralLow(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    return 32768;
  }
}
const LOW = 10_000;
const HIGH = Math.max(LOW + 1000, ephemeralLow() - 1);

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A loopback port that is free now and outside the range the OS assigns by itself. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port between ${LOW} and ${HIGH}`);
}

const IN_USE = /EADDRINUSE|address already in use|errno=98/i;

/**
 * Starts something on a free port; when the start fails because the port was taken after all
 * (the error's message says so), starts it again on another one.
 */
export async function startOnFreePort<T>(start: (port: number) => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePort());
    } catch (err) {
      if (attempt >= attempts || !IN_USE.test(String((err as Error).message))) throw err;
    }
  }
}
