// Group commit for the chat fast path. Sends that arrive in the same event-loop turn (many
// sockets become readable in one poll phase) are stored by ONE statement: one round trip, one
// transaction, one WAL flush for all of them, instead of one each. Each caller still gets its
// own result only after that statement committed, so "ack only after COMMIT" holds per message.
//
// Order and locks: inputs are sorted by conversation id (stable, so two sends to the same
// conversation keep their arrival order) so concurrent batches — of this replica or another —
// always take conversation row locks in the same order and cannot deadlock one another. A batch
// that fails as a whole (a deadlock with some other transaction, a bad input) is retried one
// input at a time, so one bad input only fails its own send; nothing of the failed statement
// was committed, and the retry is idempotent anyway (client ids). (A statement that locks
// several conversations in another order — e.g. moving a contact's conversations to another
// contact — can still deadlock with a batch; PostgreSQL then aborts one of the two: if it is the
// batch, the retry above stores its sends.) A batch holds its row locks until it commits, so a
// conversation locked by a slow transaction also delays the other sends of its batch.
//
// The same batching serves reads that come in bursts: the resumes of a reconnect storm share
// one statement per turn (for reads the sort order does not matter).

export interface GroupCommitStats {
  batches: number;
  items: number;
  fallbacks: number;
}

export function createGroupCommit<I extends { conversationId: string }, R>(opts: {
  /** Stores many inputs in one statement; result i belongs to input i. */
  many: (inputs: I[]) => Promise<R[]>;
  /** Stores one input (also the fallback when a batch fails). */
  one: (input: I) => Promise<R>;
  /** At most this many inputs per statement. */
  maxBatch: number;
  /**
   * At most this many statements at a time. While they run, new inputs wait and then go
   * together: under light load every turn's inputs leave at once; when the database is busy,
   * batches grow instead of statements piling up (fewer commits, less parse/plan work per item).
   */
  maxInFlight: number;
}) {
  const queue: { input: I; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  let scheduled = false;
  let inFlight = 0;
  const stats: GroupCommitStats = { batches: 0, items: 0, fallbacks: 0 };

  function schedule() {
    if (scheduled) return;
    scheduled = true;
    // After the poll phase: every input read from any socket in this turn joins the batch.
    setImmediate(flush);
  }

  function flush() {
    scheduled = false;
    while (queue.length > 0 && inFlight < opts.maxInFlight) {
      const batch = queue.splice(0, opts.maxBatch);
      inFlight++;
      void run(batch).finally(() => {
        inFlight--;
        if (queue.length > 0) schedule();
      });
    }
  }

  async function run(batch: typeof queue) {
    stats.batches++;
    stats.items += batch.length;
    if (batch.length === 1) {
      const [w] = batch;
      return opts.one(w!.input).then(w!.resolve, w!.reject);
    }
    batch.sort((a, b) =>
      a.input.conversationId < b.input.conversationId
        ? -1
        : a.input.conversationId > b.input.conversationId
          ? 1
          : 0,
    );
    let results: R[];
    try {
      results = await opts.many(batch.map((w) => w.input));
    } catch {
      stats.fallbacks++;
      for (const w of batch) await opts.one(w.input).then(w.resolve, w.reject);
      return;
    }
    batch.forEach((w, i) => w.resolve(results[i]!));
  }

  return {
    append(input: I): Promise<R> {
      return new Promise<R>((resolve, reject) => {
        queue.push({ input, resolve, reject });
        schedule();
      });
    },
    stats: () => ({ ...stats }),
  };
}
