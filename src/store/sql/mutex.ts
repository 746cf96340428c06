/**
 * A FIFO async mutex. The SQLite store has one connection, so an open transaction must keep every
 * other caller's statements out until it ends; nested savepoints at one level take turns the same way.
 */
export class Mutex {
  private held = false;
  private readonly waiters: Array<() => void> = [];

  get locked(): boolean {
    return this.held;
  }

  /** Resolves with the release function once this caller holds the lock. */
  async acquire(): Promise<() => void> {
    if (this.held) await new Promise<void>((resolve) => this.waiters.push(resolve));
    else this.held = true;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next(); // ownership passes directly to the next waiter
      else this.held = false;
    };
  }
}

/** Runs fn under the mutex, or right away (no await) when nobody holds it. */
export async function whenFree<T>(mutex: Mutex, fn: () => T): Promise<T> {
  if (!mutex.locked) return fn();
  const release = await mutex.acquire();
  try {
    return fn();
  } finally {
    release();
  }
}
