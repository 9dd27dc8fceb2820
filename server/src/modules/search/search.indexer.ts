// The background indexer: every replica runs the loop, the maintenance lock lets one work at a
// time. Queued changes first (freshness: a message is indexed within about a second); when there
// are none and the index is still being built, one build batch.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { SearchService } from './search.service.ts';

const IDLE_MS = 1000;

export function createSearchIndexer(deps: {
  search: Pick<SearchService, 'indexChanges' | 'buildBatch'>;
  logger: Logger;
  batch?: number;
  buildBatch?: number;
}) {
  const batch = deps.batch ?? 5000;
  const buildBatch = deps.buildBatch ?? 1000;
  let abort: AbortController | null = null;
  let loop: Promise<void> | null = null;

  async function tick(): Promise<boolean> {
    const r = await deps.search.indexChanges(batch);
    if (!r.locked) return false;
    if (r.messages >= batch) return true;
    if (r.messages > 0) return false;
    const b = await deps.search.buildBatch(buildBatch);
    return b.locked && !b.done;
  }

  async function run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      let again = false;
      try {
        again = await tick();
      } catch (err) {
        deps.logger.warn({ err }, 'search indexer batch failed; retrying');
      }
      if (!again) await sleep(IDLE_MS, undefined, { signal }).catch(() => undefined);
    }
  }

  return {
    start(): void {
      if (loop) return;
      abort = new AbortController();
      loop = run(abort.signal);
    },
    async stop(): Promise<void> {
      abort?.abort();
      await loop;
      loop = null;
    },
  };
}

export type SearchIndexer = ReturnType<typeof createSearchIndexer>;
