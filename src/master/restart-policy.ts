/**
 * When to restart a crashed node: exponential backoff, and a crash-loop fuse so a node that
 * cannot stay up stops burning CPU and filling logs (Firefly never restarted anything; a
 * naive supervisor restarts forever).
 */
export interface RestartPolicy {
  /** Delay before the first restart after a crash. */
  initialDelayMs: number;
  /** Upper bound of the delay. */
  maxDelayMs: number;
  /** This many crashes within `windowMs` stop the restarts ("crash-loop"). */
  maxCrashes: number;
  windowMs: number;
}

export const DEFAULT_RESTART_POLICY: Readonly<RestartPolicy> = {
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  maxCrashes: 5,
  windowMs: 60_000,
};

/** The crash history of one node. */
export class CrashHistory {
  private crashes: number[] = [];

  constructor(private readonly policy: Readonly<RestartPolicy>) {}

  /**
   * Record a crash at `now`. Returns the delay before the next start, or null when the node
   * crashed `maxCrashes` times within the window and must not be restarted.
   */
  record(now: number): number | null {
    this.crashes = this.crashes.filter((t) => now - t < this.policy.windowMs);
    this.crashes.push(now);
    if (this.crashes.length >= this.policy.maxCrashes) return null;
    // Crashes that fell out of the window no longer count, so a node that ran well gets short delays again.
    const exponent = this.crashes.length - 1;
    return Math.min(this.policy.maxDelayMs, this.policy.initialDelayMs * 2 ** exponent);
  }

  /** Crashes within the current window. */
  get recent(): number {
    return this.crashes.length;
  }

  reset(): void {
    this.crashes = [];
  }
}
