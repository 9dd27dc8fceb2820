// The inbox tabs' counts (GET /api/v1/conversations/counts): per reader, what waits for them in
// each tab — unassigned open conversations, and their own ones with visitor messages they have not
// read. Same visibility as the lists; per role.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createTestApp, httpClient, signIn } from '../support/app.ts';

const t = await createTestApp();
const http = httpClient(t);

async function visitorWrites(token: string, conversationId: string, text: string) {
  const sent = await http('POST', `/api/v1/widget/conversations/${conversationId}/messages`, {
    token,
    body: { clientId: randomUUID(), text },
  });
  expect(sent.statusCode, sent.body).toBe(201);
  return sent.json<{ message: { seq: number } }>().message.seq;
}

async function newVisitorConversation(text: string) {
  const session = await http('POST', '/api/v1/widget/session', { body: {} });
  const { token } = session.json<{ token: string }>();
  const id = (await http('POST', '/api/v1/widget/conversations', { token })).json<{ id: string }>().id;
  await visitorWrites(token, id, text);
  return { token, id };
}

describe('inbox counts per tab', () => {
  it('counts unassigned and own unread conversations per reader, and follows claims, reads and teams', async () => {
    const admin = await signIn(t, 'admin');
    const team = (
      await http('POST', '/api/v1/teams', { cookie: admin.cookie, body: { name: `售前-${randomUUID()}` } })
    ).json<{ id: string }>();
    const a = await signIn(t, 'agent', { teamIds: [team.id] });
    const b = await signIn(t, 'agent', { teamIds: [team.id] });
    const supervisor = await signIn(t, 'supervisor', { teamIds: [team.id] });
    const counts = async (cookie: string) => {
      const res = await http('GET', '/api/v1/conversations/counts', { cookie });
      expect(res.statusCode, res.body).toBe(200);
      return res.json<{ mine: number; unassigned: number; team: number; all: number }>();
    };
    const base = {
      a: await counts(a.cookie),
      b: await counts(b.cookie),
      admin: await counts(admin.cookie),
    };
    const delta = async (who: 'a' | 'b' | 'admin', cookie: string) => {
      const now = await counts(cookie);
      return {
        mine: now.mine - base[who].mine,
        unassigned: now.unassigned - base[who].unassigned,
        team: now.team - base[who].team,
        all: now.all - base[who].all,
      };
    };

    const first = await newVisitorConversation('请问有货吗？');
    const second = await newVisitorConversation('我要退款');
    expect(await delta('a', a.cookie)).toEqual({ mine: 0, unassigned: 2, team: 0, all: 2 });

    // A claims the first; the visitor writes again: A's "mine" has it, B's counts do not.
    expect(
      (await http('POST', `/api/v1/conversations/${first.id}/claim`, { cookie: a.cookie })).statusCode,
    ).toBe(200);
    const seq = await visitorWrites(first.token, first.id, '还在吗？');
    expect(await delta('a', a.cookie)).toEqual({ mine: 1, unassigned: 1, team: 0, all: 2 });
    expect(await delta('b', b.cookie)).toEqual({ mine: 0, unassigned: 1, team: 0, all: 1 });
    // Read: no longer waiting for A.
    await http('POST', `/api/v1/conversations/${first.id}/read`, { cookie: a.cookie, body: { seq } });
    expect(await delta('a', a.cookie)).toEqual({ mine: 0, unassigned: 1, team: 0, all: 1 });

    // The second goes to the team's queue: it counts in "team" for its members.
    const routed = await http('POST', `/api/v1/conversations/${second.id}/assign`, {
      cookie: admin.cookie,
      body: { assigneeId: null, teamId: team.id },
    });
    expect(routed.statusCode, routed.body).toBe(200);
    expect(await delta('b', b.cookie)).toEqual({ mine: 0, unassigned: 1, team: 1, all: 1 });
    expect((await counts(supervisor.cookie)).team).toBeGreaterThanOrEqual(1);
    // Resolved conversations wait for nobody.
    await http('POST', `/api/v1/conversations/${second.id}/resolve`, { cookie: admin.cookie });
    expect(await delta('b', b.cookie)).toEqual({ mine: 0, unassigned: 0, team: 0, all: 0 });
    expect(await delta('admin', admin.cookie)).toEqual({ mine: 0, unassigned: 0, team: 0, all: 0 });
  });

  it('needs a session, and an auditor (no conversations.read) is refused', async () => {
    expect((await http('GET', '/api/v1/conversations/counts')).statusCode).toBe(401);
    const auditor = await signIn(t, 'auditor');
    expect((await http('GET', '/api/v1/conversations/counts', { cookie: auditor.cookie })).statusCode).toBe(
      403,
    );
  });
});
