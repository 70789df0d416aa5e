/**
 * Entity ownership through the master (no Redis): the Ownership interface over the node's
 * registry link (src/master/leases.ts). After the link comes back (a master restart) the node
 * claims what it holds; keys it may no longer keep are forgotten.
 */
import { ClaimLeases, AcquireLease, HandOverLease, ReleaseLease } from "../master/leases.ts";
import { HeldLeases, OwnershipTimeoutError, type Ownership } from "../data/index.ts";
import type { RootClient } from "../rpc/index.ts";
import type { Logger } from "../log/logger.ts";

export class MasterOwnership implements Ownership {
  private readonly owned = new HeldLeases();
  private handler: ((key: string) => void) | null = null;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly link: RootClient,
    readonly id: string,
    private readonly waitMs: number,
    private readonly log: Logger,
  ) {
    link.services.handle(HandOverLease, ([key]) => {
      // No handler yet: the cache has not finished replaying this node's journal, so a lease
      // from before a crash must not go yet. The asker asks again.
      if (this.handler === null) return;
      if (this.owned.has(key)) this.handler(key);
      else {
        // Not held here: a lease from before this process started (it restarted, replayed its
        // journal and holds nothing of that entity in memory), or a grant whose reply is read
        // but not yet seen (a notice runs as it arrives, a reply's await a moment later). Give it
        // up; the grant on its way is void, and its acquire asks again.
        this.owned.drop(key);
        void this.link.call(ReleaseLease, key).catch(() => false);
      }
    });
    this.unsubscribe = link.onStateChange((state) => {
      if (state === "open" && this.owned.size > 0) this.claimBack();
    });
  }

  owns(key: string): boolean {
    return this.owned.has(key);
  }

  onRequest(handler: (key: string) => void): void {
    this.handler = handler;
  }

  async acquire(key: string): Promise<void> {
    const deadline = Date.now() + this.waitMs;
    let holder: string | null = null;
    let why = "";
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      try {
        // A grant counts only if this node released nothing of `key` since asking (HeldLeases).
        let answer: { granted: boolean; holder: string | null } = { granted: false, holder: null };
        if (await this.owned.ask(key, async () => (answer = await this.link.call(AcquireLease, key)).granted)) return;
        holder = answer.granted ? null : answer.holder;
      } catch (err) {
        why = err instanceof Error ? err.message : String(err); // the master is away: try again until the deadline
      }
      await new Promise((r) => setTimeout(r, Math.min(50, 2 + attempt * 4)));
    }
    throw new OwnershipTimeoutError(`${key}: ${holder !== null ? `held by ${holder}, not handed over` : `no lease from the master${why === "" ? "" : ` (${why})`}`} within ${this.waitMs} ms`);
  }

  async release(key: string): Promise<void> {
    this.owned.drop(key);
    await this.link.call(ReleaseLease, key).catch(() => false); // a lease the master forgot is released already
  }

  async close(): Promise<void> {
    this.unsubscribe();
    const keys = this.owned.dropAll();
    await Promise.all(keys.map((key) => this.link.call(ReleaseLease, key).catch(() => false)));
  }

  private claimBack(): void {
    this.link.call(ClaimLeases, this.owned.keys()).then(
      (lost) => {
        for (const key of lost) this.owned.drop(key);
        if (lost.length > 0) this.log.warn("leases taken by other nodes while the master was away", { keys: lost.length });
      },
      (err: unknown) => this.log.warn("could not claim leases back from the master", { error: err instanceof Error ? err.message : String(err) }),
    );
  }
}
