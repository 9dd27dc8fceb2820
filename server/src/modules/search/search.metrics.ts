// Search index gauges on /metrics, read from the database at scrape time (every replica reports
// the same figures, whichever replica indexes).
import client from 'prom-client';
import type { SearchService } from './search.service.ts';

export function registerSearchMetrics(
  registry: client.Registry,
  search: Pick<SearchService, 'status'>,
): void {
  let inflight: Promise<Awaited<ReturnType<SearchService['status']>> | null> | undefined;
  const status = () => {
    inflight ??= search
      .status()
      .catch(() => null)
      .finally(() => {
        inflight = undefined;
      });
    return inflight;
  };
  const gauge = (
    name: string,
    help: string,
    read: (s: Awaited<ReturnType<SearchService['status']>>) => number,
  ) =>
    new client.Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const s = await status();
        if (s) this.set(read(s));
      },
    });
  gauge(
    'parley_search_lag_seconds',
    'Age of the oldest message change not yet indexed (0 when none); search scans these meanwhile.',
    (s) => s.lagSeconds,
  );
  gauge(
    'parley_search_pending_changes',
    'Message changes queued for the search indexer.',
    (s) => s.pendingChanges,
  );
  gauge(
    'parley_search_index_bytes',
    'Size of the search index (search_entries with its indexes).',
    (s) => s.indexBytes,
  );
  gauge(
    'parley_search_messages_bytes',
    'Size of the messages table with its indexes, for comparison.',
    (s) => s.messagesBytes,
  );
  gauge(
    'parley_search_index_complete',
    '1 when every message is in the search index or queued for it; 0 while the first build runs.',
    (s) => (s.complete ? 1 : 0),
  );
  gauge('parley_search_build_messages', 'Messages indexed by the current or last build.', (s) => s.built);
}
