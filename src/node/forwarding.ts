/**
 * Built-in forwarding, Firefly's net → gate → game path as framework code (Firefly left it to
 * each game): a net node forwards client commands it has no handler for to its root; a node
 * that receives a forwarded command runs it if it has the handler, otherwise (as a root) routes
 * it to a child. Replies return along the same calls; pushes and kicks travel back down the
 * tree by the client's net node; a disconnect is announced upwards.
 */
import { CommandError, ErrorCode, type PushDef } from "../protocol/index.ts";
import { RpcError, RpcErrorCode, service, type RootClient, type RootServer, type ServiceContext } from "../rpc/index.ts";
import type { Logger } from "../log/logger.ts";
import type { PushEncoder } from "./context.ts";
import type { ClientContext, CommandEntry, CommandRegistry } from "./registry.ts";

/** A client as seen from behind a gateway: which net node holds it, and its id there. */
export interface ClientRef {
  net: string;
  id: number;
  remoteAddress: string;
  transport: "tcp" | "ws";
}

export const Forward = service<[client: ClientRef, command: number, body: Uint8Array], Uint8Array | null>("glowfly.forward");
export const ForwardNotify = service<[client: ClientRef, command: number, body: Uint8Array], void>("glowfly.forwardNotify");
export const PushToClient = service<[client: ClientRef, command: number, body: Uint8Array], void>("glowfly.push");
export const KickClient = service<[client: ClientRef, reason: string], void>("glowfly.kick");
export const ClientGone = service<[client: ClientRef], void>("glowfly.clientGone");

/**
 * Picks the child a forwarded command goes to, or null when none can take it. A router that
 * remembers clients gets `forget(client)` when one disconnects, so its memory stays bounded.
 */
export type Router = ((client: ClientRef, command: number, children: readonly string[]) => string | null) & {
  forget?: (client: ClientRef) => void;
};

/** Built-in routers. */
export const routers = {
  /** Each client sticks to the child it was first sent to (assigned round-robin). The default. */
  sticky(): Router {
    const assigned = new Map<string, string>();
    const next = routers.roundRobin();
    const router: Router = (client, command, children) => {
      const key = `${client.net}/${client.id}`;
      const current = assigned.get(key);
      if (current !== undefined && children.includes(current)) return current;
      const chosen = next(client, command, children);
      if (chosen !== null) assigned.set(key, chosen);
      return chosen;
    };
    router.forget = (client) => assigned.delete(`${client.net}/${client.id}`);
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

export interface ForwardingSetup {
  name: string;
  commands: CommandRegistry;
  encoder: PushEncoder;
  log: Logger;
  /** The root client a net node forwards to (null: this node forwards nothing itself). */
  up: RootClient | null;
  /** Command ranges the net node forwards. */
  ranges: readonly (readonly [number, number])[];
  /** This node's root server, when it has children to route to. */
  root: RootServer | null;
  /** Children that take forwarded commands (default: every child but the client's own net node). */
  targets: readonly string[] | undefined;
  /** Every root client of this node: pushes for clients of other nets go up through them. */
  remotes: readonly RootClient[];
  /** Push/kick a client connected to this node. */
  local: { push(id: number, command: number, body: Uint8Array): boolean; kick(id: number, reason: string): boolean };
}

export class Forwarding {
  router: Router = routers.sticky();
  /** Told when a client held by another node (or this one) has disconnected. */
  readonly goneListeners = new Set<(client: ClientRef) => void>();
  /** Which child each remote client's commands went to, for disconnect notices. */
  private readonly owners = new Map<string, string>();

  constructor(private readonly setup: ForwardingSetup) {
    const services = setup.root?.services;
    const registries = [services, ...setup.remotes.map((r) => r.services)];
    for (const registry of new Set(registries)) {
      if (!registry) continue;
      registry.handle(Forward, ([client, command, body], ctx) => this.handleForward(client, command, body, ctx));
      registry.handle(ForwardNotify, ([client, command, body], ctx) => this.handleForwardNotify(client, command, body, ctx));
      registry.handle(PushToClient, ([client, command, body]) => this.pushTo(client, command, body));
      registry.handle(KickClient, ([client, reason]) => this.kickTo(client, reason));
      registry.handle(ClientGone, ([client]) => this.gone(client));
    }
  }

  /** Whether a client command with no local handler is forwarded by this node. */
  covers(command: number): boolean {
    if (this.setup.up === null) return false;
    for (const [first, last] of this.setup.ranges) if (command >= first && command <= last) return true;
    return false;
  }

  /** Net side: send a client's request up; resolves with the reply body, rejects with CommandError. */
  async request(client: ClientRef, command: number, body: Uint8Array): Promise<Uint8Array | undefined> {
    try {
      const reply = await (this.setup.up as RootClient).call(Forward, client, command, body);
      return reply ?? undefined;
    } catch (err) {
      throw toCommandError(err);
    }
  }

  notify(client: ClientRef, command: number, body: Uint8Array): boolean {
    return this.setup.up?.notify(ForwardNotify, client, command, body) ?? false;
  }

  /** Net side: a client left; tell the gateway (and through it, the node that owned it). */
  clientClosed(client: ClientRef): void {
    this.setup.up?.notify(ClientGone, client);
  }

  /** A context that reaches a client held by another node. */
  contextFor(client: ClientRef): ClientContext {
    return new RemoteClientContext(client, this);
  }

  pushTo(client: ClientRef, command: number, body: Uint8Array): void {
    if (client.net === this.setup.name) {
      this.setup.local.push(client.id, command, body);
      return;
    }
    if (this.setup.root?.child(client.net) !== undefined) {
      this.setup.root.notifyChild(client.net, PushToClient, client, command, body);
      return;
    }
    for (const remote of this.setup.remotes) if (remote.notify(PushToClient, client, command, body)) return;
  }

  kickTo(client: ClientRef, reason: string): void {
    if (client.net === this.setup.name) {
      this.setup.local.kick(client.id, reason);
      return;
    }
    if (this.setup.root?.child(client.net) !== undefined) {
      this.setup.root.notifyChild(client.net, KickClient, client, reason);
      return;
    }
    for (const remote of this.setup.remotes) if (remote.notify(KickClient, client, reason)) return;
  }

  encodePush<T>(message: PushDef<T>, data: T): Uint8Array {
    return this.setup.encoder.encodePush(message, data);
  }

  private async handleForward(client: ClientRef, command: number, body: Uint8Array, _ctx: ServiceContext): Promise<Uint8Array | null> {
    const entry = this.setup.commands.lookup(command);
    if (entry !== undefined) return (await this.invoke(entry, client, body)) ?? null;
    const child = this.route(client, command);
    try {
      return await (this.setup.root as RootServer).callChild(child, Forward, client, command, body);
    } catch (err) {
      throw toCommandError(err);
    }
  }

  private async handleForwardNotify(client: ClientRef, command: number, body: Uint8Array, _ctx: ServiceContext): Promise<void> {
    const entry = this.setup.commands.lookup(command);
    if (entry !== undefined) {
      await this.invoke(entry, client, body);
      return;
    }
    this.setup.root?.notifyChild(this.route(client, command), ForwardNotify, client, command, body);
  }

  private route(client: ClientRef, command: number): string {
    const root = this.setup.root;
    if (root === null) throw new CommandError(ErrorCode.UnknownCommand, `unknown command ${command}`);
    const targets = this.setup.targets;
    // Never back to the node that holds the client, nor to children that only forward.
    const candidates = root.children().filter((c) => c !== client.net && (targets === undefined || targets.includes(c)));
    const child = this.router(client, command, candidates);
    if (child === null) throw new CommandError(ErrorCode.Unavailable, `no node can take command ${command} right now`);
    this.owners.set(`${client.net}/${client.id}`, child);
    return child;
  }

  private gone(client: ClientRef): void {
    const key = `${client.net}/${client.id}`;
    const owner = this.owners.get(key);
    this.owners.delete(key);
    if (owner !== undefined) this.setup.root?.notifyChild(owner, ClientGone, client);
    this.router.forget?.(client);
    for (const listener of this.goneListeners) listener(client);
  }

  /** Run a forwarded command's handler here: decode, validate, call, encode. */
  private async invoke(entry: CommandEntry, client: ClientRef, body: Uint8Array): Promise<Uint8Array | undefined> {
    let input: unknown;
    try {
      input = entry.codec.decode(body);
    } catch {
      throw new CommandError(ErrorCode.BadPayload, `body is not valid ${entry.codec.name}`);
    }
    if (entry.validate !== undefined && !entry.validate(input)) throw new CommandError(ErrorCode.BadPayload, `${entry.name}: request failed validation`);
    let result: unknown;
    try {
      result = await entry.handler(input, this.contextFor(client));
    } catch (err) {
      if (err instanceof CommandError) throw err;
      this.setup.log.error("command handler failed", { command: entry.id, name: entry.name, client: `${client.net}/${client.id}`, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      throw new CommandError(ErrorCode.HandlerFailed, `${entry.name} failed`);
    }
    return result === undefined || result === null ? undefined : entry.codec.encode(result);
  }
}

/** RPC failures become the client-facing codes (docs/protocol.md). */
function toCommandError(err: unknown): CommandError {
  if (err instanceof CommandError) return err;
  if (err instanceof RpcError) {
    if (err.code === RpcErrorCode.NotConnected || err.code === RpcErrorCode.LinkClosed) return new CommandError(ErrorCode.Unavailable, err.message);
    return new CommandError(err.code, err.remote ? err.message : `forwarding failed: ${err.message}`);
  }
  return new CommandError(ErrorCode.HandlerFailed, "forwarding failed");
}

class RemoteClientContext implements ClientContext {
  constructor(
    private readonly ref: ClientRef,
    private readonly forwarding: Forwarding,
  ) {}
  get id(): number {
    return this.ref.id;
  }
  get remoteAddress(): string {
    return this.ref.remoteAddress;
  }
  get transport(): "tcp" | "ws" {
    return this.ref.transport;
  }
  /** The net node that holds this client. */
  get net(): string {
    return this.ref.net;
  }
  push<T>(message: PushDef<T>, data: T): boolean {
    this.forwarding.pushTo(this.ref, message.id, this.forwarding.encodePush(message, data));
    return true;
  }
  kick(reason: string): void {
    this.forwarding.kickTo(this.ref, reason);
  }
}
