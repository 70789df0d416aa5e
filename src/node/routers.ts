/**
 * Routers: which child of a gateway takes a client's forwarded command. An app may supply any
 * function of this shape (`node.setRouter`); these are the built-in ones.
 */
import { ClientMap } from "./client-map.ts";
import type { ClientRef } from "./forward-wire.ts";

/**
 * Picks the child a forwarded command goes to, or null when none can take it. A router that
 * remembers clients gets `forget(client)` when one disconnects, so its memory stays bounded.
 * The `client` object is valid during the call: keep its fields, not the object (it is a view
 * of the forwarded bytes).
 */
export type Router = ((client: ClientRef, command: number, children: readonly string[]) => string | null) & {
  forget?: (client: ClientRef) => void;
};

/** Built-in routers. */
export const routers = {
  /** Each client sticks to the child it was first sent to (assigned round-robin). The default. */
  sticky(): Router {
    const assigned = new ClientMap<string>();
    const next = routers.roundRobin();
    const router: Router = (client, command, children) => {
      const current = assigned.get(client);
      if (current !== undefined && children.includes(current)) return current;
      const chosen = next(client, command, children);
      if (chosen !== null) assigned.set(client, chosen);
      return chosen;
    };
    router.forget = (client) => assigned.delete(client);
    return router;
  },
  roundRobin(): Router {
    let i = 0;
    return (_client, _command, children) => (children.length === 0 ? null : (children[i++ % children.length] ?? null));
  },
  /** The same client always goes to the same child while the set of children is unchanged. */
  hash(): Router {
    return (client, _command, children) => {
      if (children.length === 0) return null;
      let h = 2166136261;
      for (const ch of `${client.net}/${client.id}`) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
      return [...children].sort()[(h >>> 0) % children.length] ?? null;
    };
  },
};
