// PARLEY_WORKERS=2: one `parley serve` runs two server processes sharing the port. Sockets are
// handed out round-robin, so visitors and agents end up on different processes: messages still
// flow both ways (through PostgreSQL, like replicas), and a worker that dies is replaced.
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../support/db.ts';
import { PROCESS_START_MS, PROCESS_TEST_MS } from '../support/process.ts';
import { TestSocket, isType } from '../support/realtime.ts';
import { listenBackends, login, postJson, startServer } from '../support/server-process.ts';

const database = await createTestDatabase();
const server = await startServer(database.url, { PARLEY_WORKERS: '2' });
const sockets: TestSocket[] = [];
afterAll(async () => {
  for (const s of sockets) if (s.isOpen) await s.close();
  await server.stop();
});

async function visitor() {
  const session = await postJson(`${server.base}/api/v1/widget/session`, {});
  const token = session.json.token as string;
  const conv = await postJson(
    `${server.base}/api/v1/widget/conversations`,
    {},
    { authorization: `Bearer ${token}` },
  );
  const socket = await TestSocket.open(`${server.wsBase}/api/v1/widget/ws`);
  sockets.push(socket);
  socket.send({ type: 'hello', token });
  await socket.waitFor(isType('ready'));
  return { socket, conversationId: conv.json.id as string };
}

async function waitForWorkers(n: number, except: number[] = []) {
  // (Workers are real processes starting on a loaded machine: a generous deadline.)
  const deadline = Date.now() + PROCESS_START_MS;
  for (;;) {
    const pids = (await listenBackends(database.url)).map(([, serverPid]) => serverPid);
    if (pids.filter((p) => !except.includes(p)).length >= n) return pids;
    if (Date.now() > deadline) throw new Error(`${n} workers not listening: ${pids.join(', ')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('PARLEY_WORKERS=2', { timeout: PROCESS_TEST_MS }, () => {
  it('runs two processes; visitors and agents on either one talk both ways; a dead worker is replaced', async () => {
    const pids = await waitForWorkers(2);
    expect(new Set(pids).size).toBe(2);
    expect(pids).not.toContain(server.pid); // the primary only forks and hands out connections

    const cookie = await login(server.base, 'admin', 'e2e-admin-password-0123');
    // Two agent sockets in a row: round-robin puts them on different processes.
    const agents: TestSocket[] = [];
    for (let i = 0; i < 2; i++) {
      const a = await TestSocket.open(`${server.wsBase}/api/v1/ws`, { cookie });
      sockets.push(a);
      a.send({ type: 'hello' });
      await a.waitFor(isType('ready'));
      agents.push(a);
    }
    const visitors = [await visitor(), await visitor()];
    for (const [i, v] of visitors.entries()) {
      const text = `from visitor ${i}`;
      v.socket.send({ type: 'send', conversationId: v.conversationId, clientId: randomUUID(), text });
      // Both agents (one of them on the other process) receive every visitor message.
      for (const a of agents)
        await a.waitFor(
          isType('message', (m) => m.message.text === text),
          { timeoutMs: 10_000 },
        );
      const answer = `answer ${i}`;
      agents[i]!.send({
        type: 'send',
        conversationId: v.conversationId,
        clientId: randomUUID(),
        text: answer,
      });
      await v.socket.waitFor(
        isType('message', (m) => m.message.text === answer),
        { timeoutMs: 10_000 },
      );
    }

    // Kill one worker: the primary starts another; the server keeps answering.
    const victim = pids[0]!;
    process.kill(victim, 'SIGKILL');
    const after = await waitForWorkers(2, [victim]);
    expect(after).not.toContain(victim);
    const v = await visitor();
    const survivor = agents.find((a) => a.isOpen)!;
    const text = 'after a worker died';
    v.socket.send({ type: 'send', conversationId: v.conversationId, clientId: randomUUID(), text });
    await survivor.waitFor(
      isType('message', (m) => m.message.text === text),
      { timeoutMs: 15_000 },
    );
  });
});
