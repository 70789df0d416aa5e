/**
 * How session traffic crosses node links (docs/protocol.md, "Session channels"): fan-outs
 * towards one gateway or flooded to all of them, operations on a session routed to its gateway
 * and answered back, and "node lost" notices from a root to its children so that gateways can
 * apply `sceneLost`. Messages travel one step at a time: down to a child with that name, else up
 * to the first root; a flood goes to every child but the one it came from, and up only if it did
 * not come from above — on a tree every gateway gets it once.
 */
import { CommandError, decodeControl, encodeControl, ErrorCode, MessageType, type ErrorBody } from "../protocol/index.ts";
import { RpcErrorCode, type Link, type RootClient, type RootServer, type ServiceRegistry } from "../rpc/index.ts";
import type { Logger } from "../log/logger.ts";
import type { SessionRoutes, Sessions } from "../session/sessions.ts";
import { decodeFanout, decodeSessionOp, isDirected, sessionOpGateway } from "../session/wire.ts";

/** Raw link channels of sessions (after forwarding's 1–5). */
export const SessionChannel = {
  /** Request, towards a session's gateway: an operation on the session; the reply is its JSON answer. */
  Op: 6,
  /** Notify: pushes for many sessions, expanded by the gateway(s) that hold them. */
  Fanout: 7,
  /** Notify, from a root to its children: the named child's link was lost. Body: the name, UTF-8. */
  NodeLost: 8,
} as const;

export interface SessionRoutingSetup {
  name: string;
  sessions: Sessions;
  root: RootServer | null;
  remotes: readonly RootClient[];
  log: Logger;
  /** The session-op timeout between nodes (default: the link's). */
  timeoutMs?: number;
}

const OP_LABEL = "session operation";
const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

export class SessionRouting implements SessionRoutes {
  constructor(private readonly setup: SessionRoutingSetup) {
    const { root, remotes } = setup;
    for (const registry of new Set<ServiceRegistry | undefined>([root?.services, ...remotes.map((r) => r.services)])) {
      if (!registry) continue;
      registry.channel(SessionChannel.Op, (from, id, body) => this.onOp(from, id, body));
      registry.channel(SessionChannel.Fanout, (from, _id, body) => this.onFanout(from, body));
      registry.channel(SessionChannel.NodeLost, (_from, _id, body) => this.onNodeLost(utf8Decoder.decode(body)));
    }
    root?.onChildLost((child) => this.childLost(child));
  }

  fanout(body: Uint8Array, gateway: string | null): void {
    if (gateway !== null) this.towards(gateway, null)?.notifyRaw(SessionChannel.Fanout, body);
    else this.flood(SessionChannel.Fanout, body, null);
  }

  op(gateway: string, body: Uint8Array): Promise<unknown> {
    const link = this.towards(gateway, null);
    if (link === undefined) return Promise.reject(new CommandError(ErrorCode.Unavailable, `no link towards gateway ${gateway}`));
    return new Promise((resolve, reject) => {
      link.callRaw(SessionChannel.Op, OP_LABEL, body, this.setup.timeoutMs, (err, type, reply) => {
        if (err !== null) {
          const lost = err.code === RpcErrorCode.NotConnected || err.code === RpcErrorCode.LinkClosed;
          reject(new CommandError(lost ? ErrorCode.Unavailable : err.code, `session operation failed: ${err.message}`));
        } else if (type === MessageType.Error) {
          const error = decodeControl<ErrorBody>(reply, ["code"]);
          reject(new CommandError(error.code, typeof error.message === "string" ? error.message : ""));
        } else {
          resolve(reply.length === 0 ? undefined : JSON.parse(utf8Decoder.decode(reply)));
        }
      });
    });
  }

  /** The link one step closer to node `name`: a child of that name, else the first root (never back to `from`). */
  private towards(name: string, from: Link | null): Link | undefined {
    const child = this.setup.root?.child(name);
    if (child !== undefined) return child === from ? undefined : child;
    for (const remote of this.setup.remotes) {
      const link = remote.currentLink;
      if (link != null && link !== from) return link;
    }
    return undefined;
  }

  /** Send to every child but `from`, and up unless it came from above. */
  private flood(channel: number, body: Uint8Array, from: Link | null): void {
    const root = this.setup.root;
    if (root !== null) {
      for (const name of root.children()) {
        const link = root.child(name);
        if (link !== undefined && link !== from) link.notifyRaw(channel, body);
      }
    }
    if (from !== null && this.fromAbove(from)) return;
    for (const remote of this.setup.remotes) if (remote.currentLink?.notifyRaw(channel, body)) return;
  }

  private fromAbove(link: Link): boolean {
    return this.setup.remotes.some((r) => r.currentLink === link);
  }

  private onFanout(from: Link, body: Uint8Array): void {
    let fanout;
    try {
      fanout = decodeFanout(body);
    } catch (err) {
      this.setup.log.warn("malformed fan-out dropped", { bytes: body.length, error: String(err) });
      return;
    }
    if (isDirected(fanout.kind)) {
      if (fanout.target === this.setup.name) this.setup.sessions.deliver(fanout);
      else this.towards(fanout.target, from)?.notifyRaw(SessionChannel.Fanout, body);
      return;
    }
    this.setup.sessions.deliver(fanout);
    this.flood(SessionChannel.Fanout, body, from);
  }

  private onOp(from: Link, id: number, body: Uint8Array): void {
    let gateway: string;
    try {
      gateway = sessionOpGateway(body);
    } catch (err) {
      from.replyRaw(id, MessageType.Error, errorBody(ErrorCode.BadPayload, `malformed session operation: ${String(err)}`));
      return;
    }
    if (gateway !== this.setup.name) {
      const link = this.towards(gateway, from);
      if (link === undefined) {
        from.replyRaw(id, MessageType.Error, errorBody(ErrorCode.Unavailable, `no link towards gateway ${gateway}`));
        return;
      }
      link.callRaw(SessionChannel.Op, OP_LABEL, body, this.setup.timeoutMs, (err, type, reply) => {
        if (err === null) from.replyRaw(id, type, reply);
        else from.replyRaw(id, MessageType.Error, errorBody(ErrorCode.Unavailable, `session operation failed: ${err.message}`));
      });
      return;
    }
    let request;
    try {
      request = decodeSessionOp(body);
    } catch (err) {
      from.replyRaw(id, MessageType.Error, errorBody(ErrorCode.BadPayload, `malformed session operation: ${String(err)}`));
      return;
    }
    this.setup.sessions.runOp(request.session, request.op).then(
      (answer) => from.replyRaw(id, MessageType.Response, utf8.encode(JSON.stringify(answer ?? null))),
      (err: unknown) => {
        const code = err instanceof CommandError ? err.code : ErrorCode.HandlerFailed;
        from.replyRaw(id, MessageType.Error, errorBody(code, err instanceof Error ? err.message : String(err)));
      },
    );
  }

  /** A child's link is gone: sessions in that scene get their `sceneLost` outcome, here and on the other children. */
  private childLost(child: string): void {
    this.setup.sessions.gateway?.sceneLost(child);
    const root = this.setup.root;
    if (root === null) return;
    const body = utf8.encode(child);
    for (const name of root.children()) if (name !== child) root.child(name)?.notifyRaw(SessionChannel.NodeLost, body);
  }

  private onNodeLost(name: string): void {
    this.setup.sessions.gateway?.sceneLost(name);
  }
}

function errorBody(code: number, message: string): Uint8Array {
  return encodeControl({ code, message });
}
