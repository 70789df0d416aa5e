/**
 * The serving half of a link: decode a peer's call, run its handler, answer. It bounds the
 * handlers running for the peer (maxInFlight) and decides what the caller is told when a
 * handler fails: a CommandError's code and message, or a generic RemoteFailed with the
 * details kept in this node's log (they may hold SQL, paths or stacks).
 */
import { CommandError, encodeControl, MessageType } from "../protocol/index.ts";
import type { Logger } from "../log/logger.ts";
import type { RpcCounters } from "./counters.ts";
import type { Link } from "./link.ts";
import type { ReplyType } from "./pending.ts";
import { errorText, RpcErrorCode } from "./errors.ts";
import type { ServiceContext, ServiceEntry, ServiceRegistry } from "./service.ts";
import { decodeCall, encodeResult, type DecodedCall } from "./wire.ts";

/** What the responder needs from its link. */
export interface ResponderHost {
  /** This node's name, for messages. */
  readonly node: string;
  /** Handed to raw-channel handlers, which answer through it. */
  readonly link: Link;
  readonly peer: string;
  readonly log: Logger;
  readonly context: ServiceContext;
  /** Largest body the peer accepts. */
  readonly peerMaxBody: number;
  /** False once the link is draining or closed: calls are answered ShuttingDown, notifies dropped. */
  readonly accepting: boolean;
  /** Queue a Response or Error frame (dropped if the link has closed meanwhile). */
  sendReply(type: ReplyType, id: number, body: Uint8Array): void;
  /** The last running handler has finished. */
  idle(): void;
}

/** Error messages are cut to this many characters (a handler's message must not blow the frame). */
const MAX_ERROR_MESSAGE = 4096;

type Lookup = { ok: true; entry: ServiceEntry; args: unknown[] } | { ok: false; code: number; message: string };

export class Responder {
  private running = 0;

  constructor(
    private readonly host: ResponderHost,
    private readonly services: ServiceRegistry,
    private readonly counters: RpcCounters,
    private readonly maxInFlight: number,
  ) {}

  /** Handlers running for the peer. */
  get inFlight(): number {
    return this.running;
  }

  request(id: number, body: Uint8Array): void {
    const host = this.host;
    if (!host.accepting) {
      this.sendError(id, RpcErrorCode.ShuttingDown, `node ${host.node} is closing this link`);
      return;
    }
    if (this.running >= this.maxInFlight) {
      this.sendError(id, RpcErrorCode.TooManyInFlight, `node ${host.node} already runs ${this.running} calls for this link`);
      return;
    }
    const found = this.lookup(body);
    if (!found.ok) {
      this.sendError(id, found.code, found.message);
      return;
    }
    const { entry, args } = found;
    this.running++;
    this.counters.served++;
    let result: unknown;
    try {
      result = entry.handler(args, host.context);
    } catch (err) {
      this.fail(id, entry.name, err);
      return;
    }
    if (isThenable(result)) {
      result.then(
        (value) => this.answer(id, entry.name, value),
        (err: unknown) => this.fail(id, entry.name, err),
      );
    } else {
      this.answer(id, entry.name, result);
    }
  }

  notify(body: Uint8Array): void {
    const host = this.host;
    if (!host.accepting || this.running >= this.maxInFlight) {
      this.counters.dropped++;
      host.log.debug("notify dropped", { peer: host.peer, why: host.accepting ? "too many in flight" : "closing" });
      return;
    }
    const found = this.lookup(body);
    if (!found.ok) {
      this.counters.dropped++;
      host.log.warn("notify dropped", { peer: host.peer, why: found.message });
      return;
    }
    const { entry, args } = found;
    this.running++;
    this.counters.served++;
    const failed = (err: unknown): void => {
      this.counters.serveErrors++;
      host.log.error("notify handler failed", { service: entry.name, peer: host.peer, error: errorText(err) });
      this.release();
    };
    try {
      const result = entry.handler(args, host.context);
      if (isThenable(result)) result.then(() => this.release(), failed);
      else this.release();
    } catch (err) {
      failed(err);
    }
  }

  /**
   * A request (id > 0) or notify (id 0) on a raw channel. A request holds a handler slot until
   * its handler answers through `channelReply`; a notify's handler runs to completion at once.
   */
  channel(id: number, channel: number, body: Uint8Array): void {
    const host = this.host;
    const handler = this.services.channelHandler(channel);
    let refusal: { code: number; message: string } | null = null;
    if (handler === undefined) refusal = { code: RpcErrorCode.UnknownService, message: `node ${host.node} has no channel ${channel}` };
    else if (!host.accepting) refusal = { code: RpcErrorCode.ShuttingDown, message: `node ${host.node} is closing this link` };
    else if (this.running >= this.maxInFlight) refusal = { code: RpcErrorCode.TooManyInFlight, message: `node ${host.node} already runs ${this.running} calls for this link` };
    if (refusal !== null) {
      if (id !== 0) this.sendError(id, refusal.code, refusal.message);
      else {
        this.counters.dropped++;
        host.log.debug("notify dropped", { peer: host.peer, channel, why: refusal.message });
      }
      return;
    }
    this.running++;
    this.counters.served++;
    try {
      handler!(host.link, id, body);
    } catch (err) {
      // Handlers answer before anything can throw; one that throws has not answered.
      if (id !== 0) this.fail(id, `channel ${channel}`, err);
      else {
        this.counters.serveErrors++;
        host.log.error("channel handler failed", { channel, peer: host.peer, error: errorText(err) });
        this.release();
      }
      return;
    }
    if (id === 0) this.release();
  }

  /** The answer to a raw-channel request; frees its handler slot. */
  channelReply(id: number, type: ReplyType, body: Uint8Array): void {
    const host = this.host;
    if (body.length > host.peerMaxBody) {
      host.log.warn("channel reply too large for the peer", { peer: host.peer, bytes: body.length, limit: host.peerMaxBody });
      this.sendError(id, RpcErrorCode.BadPayload, `the reply takes ${body.length} bytes, above the caller's limit of ${host.peerMaxBody}`);
    } else {
      host.sendReply(type, id, body);
    }
    this.release();
  }

  /** Decode a call body, find its handler and check the arguments. */
  private lookup(body: Uint8Array): Lookup {
    let call: DecodedCall;
    try {
      call = decodeCall(body);
    } catch {
      return { ok: false, code: RpcErrorCode.BadPayload, message: `a call body of ${body.length} bytes is not the msgpack array [serviceName, args]` };
    }
    const entry = this.services.lookup(call.name);
    if (entry === undefined) return { ok: false, code: RpcErrorCode.UnknownService, message: `node ${this.host.node} has no service "${call.name}"` };
    if (entry.validate) {
      let valid = false;
      try {
        valid = entry.validate(call.args);
      } catch {
        // a throwing validator rejects, like one returning false
      }
      if (!valid) return { ok: false, code: RpcErrorCode.BadPayload, message: `the arguments of "${call.name}" failed its validator` };
    }
    return { ok: true, entry, args: call.args };
  }

  /** Reply, then free the handler's slot (freeing the last one may end a draining link). */
  private answer(id: number, service: string, value: unknown): void {
    this.reply(id, service, value);
    this.release();
  }

  private reply(id: number, service: string, value: unknown): void {
    const host = this.host;
    let body: Uint8Array;
    try {
      body = encodeResult(value);
    } catch (err) {
      host.log.error("service result cannot be encoded", { service, peer: host.peer, error: errorText(err) });
      this.sendError(id, RpcErrorCode.BadPayload, `the result of "${service}" cannot be encoded as msgpack`);
      return;
    }
    if (body.length > host.peerMaxBody) {
      host.log.warn("service result too large for the peer", { service, peer: host.peer, bytes: body.length, limit: host.peerMaxBody });
      this.sendError(id, RpcErrorCode.BadPayload, `the result of "${service}" takes ${body.length} bytes, above the caller's limit of ${host.peerMaxBody}`);
      return;
    }
    host.sendReply(MessageType.Response, id, body);
  }

  private fail(id: number, service: string, err: unknown): void {
    if (err instanceof CommandError) {
      this.sendError(id, err.code, err.message);
    } else {
      this.counters.serveErrors++;
      this.host.log.error("service handler failed", { service, peer: this.host.peer, error: errorText(err) });
      this.sendError(id, RpcErrorCode.RemoteFailed, `service "${service}" failed on node ${this.host.node}`);
    }
    this.release();
  }

  private release(): void {
    this.running--;
    if (this.running === 0) this.host.idle();
  }

  private sendError(id: number, code: number, message: string): void {
    const text = message.length > MAX_ERROR_MESSAGE ? message.slice(0, MAX_ERROR_MESSAGE) : message;
    this.host.sendReply(MessageType.Error, id, encodeControl({ code, message: text }));
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === "object" && value !== null && typeof (value as { then?: unknown }).then === "function";
}
