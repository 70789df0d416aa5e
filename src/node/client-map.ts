/**
 * A map keyed by client (net node name, then connection id). Two levels instead of a
 * "net/id" string: no key string is built per command, and all clients of one net node can
 * be dropped at once when that node goes away.
 */
import type { ClientRef } from "./forward-wire.ts";

type Key = Pick<ClientRef, "net" | "id">;

export class ClientMap<V> {
  private readonly nets = new Map<string, Map<number, V>>();

  get(client: Key): V | undefined {
    return this.nets.get(client.net)?.get(client.id);
  }

  set(client: Key, value: V): void {
    let ids = this.nets.get(client.net);
    if (ids === undefined) {
      ids = new Map();
      this.nets.set(client.net, ids);
    }
    ids.set(client.id, value);
  }

  /** Whether any client of this net node is in the map. */
  hasNet(net: string): boolean {
    return this.nets.has(net);
  }

  /** Remove one client; returns what it held. */
  delete(client: Key): V | undefined {
    const ids = this.nets.get(client.net);
    const value = ids?.get(client.id);
    if (ids?.delete(client.id) === true && ids.size === 0) this.nets.delete(client.net);
    return value;
  }

  /** Remove every client of one net node; returns what they held. */
  deleteNet(net: string): V[] {
    const ids = this.nets.get(net);
    this.nets.delete(net);
    return ids === undefined ? [] : [...ids.values()];
  }
}
