// Conversation retention: off by default; a dry run reports; erasing removes exactly the old
// resolved conversations (with messages), audited.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createTestApp } from '../support/app.ts';

const t = await createTestApp({ CONVERSATION_RETENTION_DAYS: '30' });
const off = await createTestApp();

async function conversation(opts: { status: string; idleDays: number }) {
  const session = await t.app.inject({ method: 'POST', url: '/api/v1/widget/session', payload: {} });
  const token = session.json<{ token: string }>().token;
  const conv = await t.app.inject({
    method: 'POST',
    url: '/api/v1/widget/conversations',
    headers: { authorization: `Bearer ${token}` },
  });
  const id = conv.json<{ id: string }>().id;
  await t.app.inject({
    method: 'POST',
    url: `/api/v1/widget/conversations/${id}/messages`,
    headers: { authorization: `Bearer ${token}` },
    payload: { clientId: randomUUID(), text: 'hello' },
  });
  await t.container.db
    .updateTable('conversations')
    .set({
      status: opts.status,
      resolved_at: opts.status === 'resolved' ? new Date() : null,
      last_activity_at: new Date(Date.now() - opts.idleDays * 86_400_000),
    })
    .where('id', '=', id)
    .execute();
  return id;
}

describe('conversation retention', () => {
  it('is off by default', async () => {
    expect(await off.container.retention.run({ erase: true })).toMatchObject({ enabled: false, erased: 0 });
  });

  it('reports first (dry run), then erases only old resolved conversations, audited', async () => {
    const oldResolved = await conversation({ status: 'resolved', idleDays: 40 });
    const oldOpen = await conversation({ status: 'open', idleDays: 40 });
    const recentResolved = await conversation({ status: 'resolved', idleDays: 5 });

    expect(await t.container.scheduler.runNow('conversation-retention')).toBe(true);
    const [run] = await t.container.scheduler.lastRuns('conversation-retention', 1);
    expect(run!.detail).toMatchObject({ enabled: true, erase: false, eligible: 1, erased: 0 });
    expect(await t.container.db.selectFrom('conversations').select('id').execute()).toHaveLength(3);

    const r = await t.container.retention.run({ erase: true });
    expect(r).toMatchObject({ eligible: 1, erased: 1 });
    const left = (await t.container.db.selectFrom('conversations').select('id').execute()).map((x) => x.id);
    expect(left.sort()).toEqual([oldOpen, recentResolved].sort());
    expect(
      await t.container.db
        .selectFrom('messages')
        .select('id')
        .where('conversation_id', '=', oldResolved)
        .execute(),
    ).toHaveLength(0);
    const audit = await t.container.db
      .selectFrom('audit_log')
      .select(['details'])
      .where('action', '=', 'conversation.retention_erase')
      .execute();
    expect(audit).toHaveLength(1);
    expect(audit[0]!.details).toMatchObject({
      conversationIds: [oldResolved],
      messages: 1,
      retentionDays: 30,
    });
  });
});
