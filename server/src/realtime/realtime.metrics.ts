// Chat gauges and counters on /metrics, read from the hub and the group commit at scrape time
// (no work on the message path): open sockets, messages delivered, and how well the group
// commit batches (messages ÷ statements = the mean batch size).
import client from 'prom-client';
import type { GroupCommitStats } from '../modules/conversations/group-commit.ts';

export function registerRealtimeMetrics(
  registry: client.Registry,
  sources: {
    hub: {
      stats(): {
        connections: number;
        conversationsTracked: number;
        deliveredMessages: number;
        gapsFilled: number;
        establishedFromDatabase: number;
        forgotten: number;
      };
    };
    appendStats(): GroupCommitStats;
    resumeStats(): GroupCommitStats;
  },
): void {
  const read = (name: string, help: string, type: 'gauge' | 'counter', value: () => number) =>
    type === 'gauge'
      ? new client.Gauge({
          name,
          help,
          registers: [registry],
          collect() {
            this.set(value());
          },
        })
      : new client.Counter({
          name,
          help,
          registers: [registry],
          collect() {
            this.reset();
            this.inc(value());
          },
        });
  read(
    'parley_ws_connections',
    'Open WebSocket connections (agents and visitors) on this process.',
    'gauge',
    () => sources.hub.stats().connections,
  );
  read(
    'parley_chat_delivered_messages_total',
    'Messages this process handed to its sockets (each message counted once, whatever the number of sockets).',
    'counter',
    () => sources.hub.stats().deliveredMessages,
  );
  read(
    'parley_chat_delivery_gap_reads_total',
    'Batches committed by this process that did not follow what it had delivered (an earlier seq committed on another replica and not delivered yet): the gap was read from the database first.',
    'counter',
    () => sources.hub.stats().gapsFilled,
  );
  read(
    'parley_chat_delivery_marks_from_database_total',
    'Conversations seen for the first time (or again after being forgotten) whose readers needed older messages read from the database.',
    'counter',
    () => sources.hub.stats().establishedFromDatabase,
  );
  read(
    'parley_chat_delivery_marks_forgotten_total',
    'Idle conversations whose delivery mark this process forgot (PARLEY_REALTIME_FORGET_SECONDS).',
    'counter',
    () => sources.hub.stats().forgotten,
  );
  read(
    'parley_chat_append_statements_total',
    'Group-commit statements that stored plain text messages (one transaction each).',
    'counter',
    () => sources.appendStats().batches,
  );
  read(
    'parley_chat_append_messages_total',
    'Plain text messages stored through the group commit (÷ statements = mean batch size).',
    'counter',
    () => sources.appendStats().items,
  );
  read(
    'parley_chat_append_fallbacks_total',
    'Group-commit statements that failed as a whole and were retried one message at a time.',
    'counter',
    () => sources.appendStats().fallbacks,
  );
  read(
    'parley_chat_resume_statements_total',
    'Statements that served socket resumes (access check and first replay page).',
    'counter',
    () => sources.resumeStats().batches,
  );
  read('parley_chat_resumes_total', 'Socket resumes served.', 'counter', () => sources.resumeStats().items);
}
