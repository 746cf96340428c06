/**
 * Group commit: items queued in the same turn of the event loop are committed together, one commit at a
 * time; items that arrive while a commit is in flight wait for the next one, so under load each commit
 * (one transaction, one fsync) carries everything that queued meanwhile. Every caller's promise settles
 * with its batch: resolved once the batch committed, rejected with the commit's error otherwise.
 */
export function groupCommit<T>(
  commit: (items: T[]) => Promise<void>,
  /** Runs a flush (default: as is). The recorder runs flushes in its own async context, see there. */
  run: (flush: () => void) => void = (flush) => flush(),
): (item: T) => Promise<void> {
  let queue: Array<{ item: T; resolve: () => void; reject: (err: unknown) => void }> = [];
  let scheduled = false;
  let inFlight: Promise<void> | undefined;

  async function flush(): Promise<void> {
    scheduled = false;
    while (inFlight) await inFlight;
    if (!queue.length) return;
    const batch = queue;
    queue = [];
    inFlight = commit(batch.map((b) => b.item)).then(
      () => { for (const b of batch) b.resolve(); },
      (err: unknown) => { for (const b of batch) b.reject(err); },
    );
    await inFlight;
    inFlight = undefined;
  }

  return (item) => new Promise<void>((resolve, reject) => {
    queue.push({ item, resolve, reject });
    if (!scheduled) {
      scheduled = true;
      setImmediate(() => run(() => void flush()));
    }
  });
}
