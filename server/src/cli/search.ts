// `parley search reindex`: builds the message search index over every message, in batches, while
// Parley keeps serving (search scans meanwhile only if no build ever finished). Each batch commits
// the cursor with its entries, so a killed run resumes where it stopped.
// `parley search status`: the index's size, lag and build.
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import type { Config } from '../config/config.ts';
import { createSearchRepository } from '../modules/search/search.repository.ts';
import { createSearchService } from '../modules/search/search.service.ts';
import { withDatabase } from './database.ts';

const MiB = 1024 * 1024;

export async function searchReindex(config: Readonly<Config>, opts: { batch: number }): Promise<number> {
  return withDatabase(config, async (handle) => {
    const search = createSearchService({ db: handle.db, repo: createSearchRepository() });
    const { resumed } = await search.startBuild();
    const before = await search.status();
    const { rows } = await sql<{ n: number }>`
      select greatest(reltuples, 0)::bigint::int as n from pg_class where oid = 'messages'::regclass`.execute(
      handle.db,
    );
    const total = rows[0]?.n ?? 0;
    console.log(
      resumed
        ? `resuming the search index build after ${before.built} message(s)`
        : `building the search index (about ${total} message(s))`,
    );
    const started = performance.now();
    let done = before.built;
    let sinceStart = 0;
    let lastPrint = 0;
    for (;;) {
      const r = await search.buildBatch(opts.batch);
      if (!r.locked) {
        await sleep(200); // the indexer of a running replica holds the lock for one batch
        continue;
      }
      done += r.messages;
      sinceStart += r.messages;
      const now = performance.now();
      if (r.done || now - lastPrint > 2000) {
        lastPrint = now;
        const rate = sinceStart / Math.max(0.001, (now - started) / 1000);
        const pct = total > 0 ? ` (${Math.min(100, (100 * done) / total).toFixed(1)} %)` : '';
        console.log(`indexed ${done} message(s)${pct}, ${Math.round(rate)} messages/s`);
      }
      if (r.done) break;
    }
    const after = await search.status();
    console.log(
      `search index complete in ${((performance.now() - started) / 1000).toFixed(1)} s: ` +
        `${(after.indexBytes / MiB).toFixed(1)} MiB beside ${(after.messagesBytes / MiB).toFixed(1)} MiB of messages`,
    );
    return 0;
  });
}

export async function searchStatus(config: Readonly<Config>, opts: { json: boolean }): Promise<number> {
  return withDatabase(config, async (handle) => {
    const s = await createSearchService({ db: handle.db, repo: createSearchRepository() }).status();
    if (opts.json) console.log(JSON.stringify(s, null, 2));
    else {
      console.log(`complete:        ${s.complete ? 'yes' : 'no (run `parley search reindex`)'}`);
      console.log(
        `build:           ${s.building ? `under way, ${s.built} indexed` : `done, ${s.built} indexed`}`,
      );
      console.log(`pending changes: ${s.pendingChanges} (lag ${s.lagSeconds.toFixed(1)} s)`);
      console.log(
        `index size:      ${(s.indexBytes / MiB).toFixed(1)} MiB (messages: ${(s.messagesBytes / MiB).toFixed(1)} MiB)`,
      );
    }
    return 0;
  });
}
