/** Time comes from an injected Clock; domain code never reads Date.now() directly. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock tests can move by hand. */
export class ManualClock implements Clock {
  constructor(private t = Date.UTC(2026, 0, 1)) {}
  now(): number { return this.t; }
  set(ms: number): void { this.t = ms; }
  advance(ms: number): void { this.t += ms; }
}

export const nowSeconds = (clock: Clock) => Math.floor(clock.now() / 1000);
export const isoNow = (clock: Clock) => new Date(clock.now()).toISOString();
