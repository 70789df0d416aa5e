/**
 * The leases an Ownership implementation holds, as it knows them locally. A grant answered for
 * a request sent before this process released the same key is stale: the release reached the
 * lease keeper after the grant, so the keeper no longer lists this node, and recording the grant
 * would make two nodes owners at once. So each request takes a ticket, and a release voids the
 * key's open tickets.
 */
export class HeldLeases {
  private readonly owned = new Set<string>();
  /** Per key, the acquire attempts whose answer has not come yet (removed when it comes). */
  private readonly open = new Map<string, Set<{ void: boolean }>>();

  get size(): number {
    return this.owned.size;
  }

  has(key: string): boolean {
    return this.owned.has(key);
  }

  keys(): string[] {
    return [...this.owned];
  }

  /**
   * Ask for `key` with `ask` (true: the keeper granted it). A grant is recorded and true
   * returned, unless `key` was released while the answer was on its way (then false: ask again).
   */
  async ask(key: string, ask: () => Promise<boolean>): Promise<boolean> {
    const ticket = { void: false };
    let tickets = this.open.get(key);
    if (tickets === undefined) {
      tickets = new Set();
      this.open.set(key, tickets);
    }
    tickets.add(ticket);
    try {
      if (!(await ask()) || ticket.void) return false;
      this.owned.add(key);
      return true;
    } finally {
      tickets.delete(ticket);
      if (tickets.size === 0 && this.open.get(key) === tickets) this.open.delete(key);
    }
  }

  /** The lease of `key` is given up (or lost): forget it and void the answers on their way. */
  drop(key: string): void {
    this.owned.delete(key);
    for (const ticket of this.open.get(key) ?? []) ticket.void = true;
  }

  /** Drop every lease; returns the keys that were held. */
  dropAll(): string[] {
    const keys = this.keys();
    for (const key of keys) this.drop(key);
    return keys;
  }
}
