/**
 * Service declarations and the handler registry. A service is declared once, in a module both
 * the calling node and the serving node import, and types both ends:
 *
 *   export const EnterScene = service<[sessionId: number, sceneId: number], { ok: boolean }>("enterScene");
 *   root.services.handle(EnterScene, ([sessionId, sceneId], ctx) => ({ ok: true }));  // serving node
 *   const { ok } = await root.callChild("game1", EnterScene, 42, 7);                   // calling node
 *
 * Services are addressed by name on the wire (not by number like commands), as Firefly's were.
 */
import type { Caller } from "./caller.ts";
import type { Link } from "./link.ts";
import { isValidName, MAX_SERVICE_NAME } from "./names.ts";

/** Checks decoded arguments; return false (or throw) to answer BadPayload. */
export type ArgsValidator<A extends unknown[]> = (args: unknown[]) => args is A;

export interface ServiceOptions<A extends unknown[]> {
  /** Optional check of the arguments on the serving side, before the handler runs. */
  validate?: ArgsValidator<A>;
}

/** A named remote method taking the argument tuple `A` and answering `R`. */
export interface ServiceDef<A extends unknown[], R> {
  readonly kind: "service";
  readonly name: string;
  readonly validate: ArgsValidator<A> | undefined;
  /** Phantom field carrying the types; never set at run time. */
  readonly types?: { args: A; result: R };
}

export type ArgsOf<S> = S extends ServiceDef<infer A, unknown> ? A : never;
export type ResultOf<S> = S extends ServiceDef<unknown[], infer R> ? R : never;

/** Declare a service. `A` is the argument tuple, `R` the result (both must survive msgpack). */
export function service<A extends unknown[] = unknown[], R = unknown>(name: string, options: ServiceOptions<A> = {}): ServiceDef<A, R> {
  if (!isValidName(name, MAX_SERVICE_NAME)) {
    throw new RangeError(`a service name must be a string of 1 to ${MAX_SERVICE_NAME} characters without control characters`);
  }
  return { kind: "service", name, validate: options.validate };
}

/** What a handler gets besides its arguments: who called. */
export interface ServiceContext {
  /** The calling node's name, from its handshake. */
  readonly peer: string;
  /** The link the call came in on; call the peer back through it. */
  readonly link: Caller;
}

export type ServiceHandler<A extends unknown[], R> = (args: A, ctx: ServiceContext) => R | Promise<R>;

export interface ServiceEntry {
  readonly name: string;
  readonly validate: ((args: unknown[]) => boolean) | undefined;
  readonly handler: ServiceHandler<unknown[], unknown>;
}

/**
 * Handler of a raw channel (a frame `command` other than 0 on a link): gets the frame body as
 * it arrived. For a request (`id` > 0) it must answer exactly once with `link.replyRaw(id, …)`,
 * now or later, and must not throw after answering; for a notify `id` is 0.
 */
export type ChannelHandler = (link: Link, id: number, body: Uint8Array) => void;

/**
 * Service name → handler. One per root server or root client by default; pass the same
 * registry to several to serve the same services on all of them.
 */
export class ServiceRegistry {
  private readonly entries = new Map<string, ServiceEntry>();
  private readonly channels = new Map<number, ChannelHandler>();

  /** Register the handler of a declared service. A service has exactly one handler; a second one throws. */
  handle<A extends unknown[], R>(def: ServiceDef<A, R>, handler: ServiceHandler<NoInfer<A>, NoInfer<R>>): void {
    if (this.entries.has(def.name)) throw new Error(`service "${def.name}" already has a handler`);
    this.entries.set(def.name, {
      name: def.name,
      validate: def.validate,
      handler: handler as ServiceHandler<unknown[], unknown>,
    });
  }

  /** Remove a service's handler (for reloading a module). Returns whether one was registered. */
  remove(def: ServiceDef<unknown[], unknown> | string): boolean {
    return this.entries.delete(typeof def === "string" ? def : def.name);
  }

  /** Register the handler of a raw channel (1 to 2^32-1; channel 0 carries the services). */
  channel(channel: number, handler: ChannelHandler): void {
    if (!Number.isInteger(channel) || channel < 1 || channel > 0xffff_ffff) throw new RangeError(`a channel is an integer from 1 to 2^32-1, got ${channel}`);
    if (this.channels.has(channel)) throw new Error(`channel ${channel} already has a handler`);
    this.channels.set(channel, handler);
  }

  channelHandler(channel: number): ChannelHandler | undefined {
    return this.channels.get(channel);
  }

  lookup(name: string): ServiceEntry | undefined {
    return this.entries.get(name);
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Registered service names. */
  names(): string[] {
    return [...this.entries.keys()];
  }

  get size(): number {
    return this.entries.size;
  }
}
