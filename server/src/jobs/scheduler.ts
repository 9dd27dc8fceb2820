// Runs scheduled jobs (node-cron) so that, with several replicas, each scheduled slot runs on
// exactly one of them: the replica whose INSERT of (job, slot) into job_runs succeeds runs it.
// One file per job under jobs/; each exports a JobDefinition that container.ts registers.
import { hostname } from 'node:os';
import cron, { type ScheduledTask } from 'node-cron';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../platform/db/database.ts';

export interface JobDefinition {
  /** Stable name: the key in job_runs. */
  name: string;
  /** Cron expression (5 or 6 fields), in the configured time zone. */
  schedule: string;
  /** Returns a small JSON-able summary stored with the run. */
  run(context: { slot: Date; signal: AbortSignal }): Promise<Record<string, unknown> | void>;
}

export interface JobRunRecord {
  job: string;
  slot: Date;
  replica: string;
  startedAt: Date;
  finishedAt: Date | null;
  outcome: 'success' | 'failure' | null;
  detail: unknown;
}

export function createScheduler(deps: { db: Database; logger: Logger; timezone: string; replica?: string }) {
  const { db, logger } = deps;
  const replica = deps.replica ?? `${hostname()}:${process.pid}`;
  const jobs = new Map<string, JobDefinition>();
  const tasks: ScheduledTask[] = [];
  const running = new Set<Promise<unknown>>();
  const abort = new AbortController();

  /** Claims the slot and runs the job; returns false when another replica had it. */
  async function runSlot(job: JobDefinition, slot: Date): Promise<boolean> {
    const claimed = await db
      .insertInto('job_runs')
      .values({ job: job.name, slot, replica })
      .onConflict((oc) => oc.columns(['job', 'slot']).doNothing())
      .returning('job')
      .executeTakeFirst();
    if (!claimed) return false;
    const log = logger.child({ job: job.name, slot: slot.toISOString() });
    log.info('job started');
    const started = performance.now();
    try {
      const detail = (await job.run({ slot, signal: abort.signal })) ?? {};
      await db
        .updateTable('job_runs')
        .set({ finished_at: sql<Date>`now()`, outcome: 'success', detail: JSON.stringify(detail) })
        .where('job', '=', job.name)
        .where('slot', '=', slot)
        .execute();
      log.info({ durationMs: Math.round(performance.now() - started) }, 'job finished');
    } catch (err) {
      log.error({ err }, 'job failed');
      await db
        .updateTable('job_runs')
        .set({
          finished_at: sql<Date>`now()`,
          outcome: 'failure',
          detail: JSON.stringify({ error: (err as Error).message }),
        })
        .where('job', '=', job.name)
        .where('slot', '=', slot)
        .execute()
        .catch((e: unknown) => log.error({ err: e }, 'could not record the job failure'));
    }
    return true;
  }

  function track<T>(p: Promise<T>): Promise<T> {
    running.add(p);
    void p.finally(() => running.delete(p)).catch(() => undefined);
    return p;
  }

  return {
    replica,

    register(job: JobDefinition): void {
      if (!cron.validate(job.schedule))
        throw new Error(`job ${job.name}: invalid cron expression "${job.schedule}"`);
      if (jobs.has(job.name)) throw new Error(`job ${job.name} registered twice`);
      jobs.set(job.name, job);
    },

    start(): void {
      for (const job of jobs.values()) {
        const task = cron.schedule(
          job.schedule,
          (ctx) => {
            // The scheduled time, to the second: identical on every replica.
            const slot = new Date(Math.floor(ctx.date.getTime() / 1000) * 1000);
            track(runSlot(job, slot)).catch((err: unknown) =>
              logger.error({ err, job: job.name }, 'could not claim the job slot (database unavailable?)'),
            );
          },
          { timezone: deps.timezone, name: job.name, noOverlap: true },
        );
        tasks.push(task);
      }
      if (jobs.size > 0) logger.info({ jobs: [...jobs.keys()], replica }, 'scheduler started');
    },

    /** Runs a job now (an on-demand slot); used by the CLI and tests. */
    async runNow(name: string, slot = new Date()): Promise<boolean> {
      const job = jobs.get(name);
      if (!job) throw new Error(`no job named ${name}`);
      return track(runSlot(job, slot));
    },

    async lastRuns(name: string, limit = 10): Promise<JobRunRecord[]> {
      const rows = await db
        .selectFrom('job_runs')
        .select(['job', 'slot', 'replica', 'started_at', 'finished_at', 'outcome', 'detail'])
        .where('job', '=', name)
        .orderBy('started_at', 'desc')
        .limit(limit)
        .execute();
      return rows.map((r) => ({
        job: r.job,
        slot: r.slot,
        replica: r.replica,
        startedAt: r.started_at,
        finishedAt: r.finished_at,
        outcome: r.outcome as JobRunRecord['outcome'],
        detail: r.detail,
      }));
    },

    /** Stops scheduling and waits for running jobs (they see the abort signal). */
    async stop(): Promise<void> {
      for (const t of tasks) await t.stop();
      abort.abort();
      await Promise.allSettled([...running]);
    },
  };
}

export type Scheduler = ReturnType<typeof createScheduler>;
