/**
 * When a peer was last heard from and last sent to. Reads and writes only set a flag (no
 * Date.now() on the hot path); the periodic liveness check turns flags into timestamps.
 * Shared by client connections and inter-node links.
 */
export class Liveness {
  private heard = false;
  private wrote = false;
  private lastHeardAt: number;
  private lastSentAt: number;

  constructor(now: number) {
    this.lastHeardAt = this.lastSentAt = now;
  }

  /** Something arrived from the peer. */
  onRead(): void {
    this.heard = true;
  }
  /** Something was queued for the peer. */
  onWrite(): void {
    this.wrote = true;
  }

  /** Start counting from `now` (a link that has just opened). */
  reset(now: number): void {
    this.heard = this.wrote = false;
    this.lastHeardAt = this.lastSentAt = now;
  }

  /** Fold this period's flags into timestamps; call once per check, before the getters below. */
  sample(now: number): void {
    if (this.heard) {
      this.heard = false;
      this.lastHeardAt = now;
    }
    if (this.wrote) {
      this.wrote = false;
      this.lastSentAt = now;
    }
  }

  /** Milliseconds since the peer was last heard from. */
  silentFor(now: number): number {
    return now - this.lastHeardAt;
  }
  /** Milliseconds since something was last sent to the peer. */
  quietFor(now: number): number {
    return now - this.lastSentAt;
  }
}
