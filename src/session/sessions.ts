/**
 * `node.sessions`: what app code on any node of a cluster uses to reach sessions — push to one,
 * many, a channel, a scene, a gateway or everyone; join and leave channels; move and kick
 * sessions; and the scene hooks (`enter`, `leave`, `offline`). On a gateway it also takes the
 * `verify` hook. Messages for sessions on other gateways go out through {@link SessionRoutes};
 * fan-out is expanded by the gateway that holds the sessions.
 */
import { codecByName, CommandError, ErrorCode, KickCode, type CodecName, type PushDef } from "../protocol/index.ts";
import type { Logger } from "../log/logger.ts";
import type { SessionGateway, GatewayStats, VerifyHook } from "./gateway.ts";
import type { GatewaySession } from "./gateway-session.ts";
import { checkChannelName } from "./gateway.ts";
import { encodeFanout, encodeSessionOp, FanoutKind, isDirected, type Fanout, type SessionOp } from "./wire.ts";

/** A session as hooks and handlers see it (`ctx.session`). Keep its fields, not the object. */
export interface SessionRef {
  /** The gateway node that holds the session. */
  readonly gateway: string;
  /** Session id, unique on its gateway. */
  readonly id: number;
  readonly uid: string;
  /** The scene it is in ("" for none). */
  readonly scene: string;
  /** Its key/value bag, as of the command or hook that brought this reference. */
  readonly data: Readonly<Record<string, unknown>>;
}

/** How session messages reach other nodes (the node's forwarding implements it). */
export interface SessionRoutes {
  /** Send a fan-out body towards `gateway`, or towards every other gateway when null. */
  fanout(body: Uint8Array, gateway: string | null): void;
  /** Ask a session's gateway to do something; resolves with its JSON answer. */
  op(gateway: string, body: Uint8Array): Promise<unknown>;
}

export type EnterHook = (session: SessionRef, fromScene: string | null, extra: unknown) => void | Promise<void>;
export type LeaveHook = (session: SessionRef, toScene: string) => void | Promise<void>;
export type OfflineHook = (session: SessionRef) => void | Promise<void>;

export class Sessions {
  private readonly enterHooks = new Set<EnterHook>();
  private readonly leaveHooks = new Set<LeaveHook>();
  private readonly offlineHooks = new Set<OfflineHook>();
  /** Set by the node once its cluster wiring exists. */
  routes: SessionRoutes | null = null;

  constructor(
    private readonly name: string,
    private readonly defaultCodec: CodecName,
    private readonly log: Logger,
    /** This node's gateway, when its config has `sessions`. */
    readonly gateway: SessionGateway | null,
  ) {}

  // ---- hooks ----

  /** On a gateway: check a login's credentials and say who it is (docs/sessions.md). */
  verify(hook: VerifyHook): void {
    if (this.gateway === null) throw new Error(`node ${this.name} is not a session gateway (its config has no "sessions")`);
    this.gateway.verify = hook;
  }

  /** A session enters this node's scene (login or move). Throwing refuses it. */
  onEnter(hook: EnterHook): () => void {
    this.enterHooks.add(hook);
    return () => this.enterHooks.delete(hook);
  }

  /** A session moved from this node's scene to another. */
  onLeave(hook: LeaveHook): () => void {
    this.leaveHooks.add(hook);
    return () => this.leaveHooks.delete(hook);
  }

  /** A session in this node's scene ended (logout, kick, replaced, resume window passed, gateway lost). */
  onOffline(hook: OfflineHook): () => void {
    this.offlineHooks.add(hook);
    return () => this.offlineHooks.delete(hook);
  }

  /** Members of a channel held by this gateway (empty on a node that is not one). */
  localMembers(channel: string): SessionRef[] {
    return this.gateway === null ? [] : this.gateway.members(channel).map((s) => this.refOf(s));
  }

  get stats(): GatewayStats | null {
    return this.gateway?.stats ?? null;
  }

  // ---- pushes ----

  /** Push to one session. A session that has ended is a counted no-op at its gateway. */
  push<T>(session: SessionRef, message: PushDef<T>, data: T): void {
    this.sendFanout(FanoutKind.Sessions, session.gateway, message.id, [session.id], this.encode(message, data));
  }

  /** Push to a list of sessions: one message per gateway, expanded there. */
  pushMany<T>(sessions: readonly SessionRef[], message: PushDef<T>, data: T): void {
    const body = this.encode(message, data);
    const byGateway = new Map<string, number[]>();
    for (const s of sessions) {
      const ids = byGateway.get(s.gateway);
      if (ids === undefined) byGateway.set(s.gateway, [s.id]);
      else ids.push(s.id);
    }
    for (const [gateway, ids] of byGateway) this.sendFanout(FanoutKind.Sessions, gateway, message.id, ids, body);
  }

  /** Push to every member of a channel, on every gateway. */
  pushChannel<T>(channel: string, message: PushDef<T>, data: T): void {
    checkChannelName(channel);
    this.sendFanout(FanoutKind.Channel, channel, message.id, [], this.encode(message, data));
  }

  /** Push to every session whose scene is `scene`. */
  pushScene<T>(scene: string, message: PushDef<T>, data: T): void {
    this.sendFanout(FanoutKind.Scene, scene, message.id, [], this.encode(message, data));
  }

  /** Push to every session on one gateway. */
  pushGateway<T>(gateway: string, message: PushDef<T>, data: T): void {
    this.sendFanout(FanoutKind.Gateway, gateway, message.id, [], this.encode(message, data));
  }

  /** Push to every session in the cluster. */
  broadcast<T>(message: PushDef<T>, data: T): void {
    this.sendFanout(FanoutKind.Everyone, "", message.id, [], this.encode(message, data));
  }

  // ---- operations on a session, run by its gateway ----

  /** Move a session to another scene (see docs/sessions.md for what happens to its commands meanwhile). */
  async changeScene(session: SessionRef, scene: string, extra?: unknown): Promise<void> {
    await this.op(session, { op: "move", scene, ...(extra === undefined ? {} : { extra }) });
  }

  /** Add a session to a channel. Resolves false if it was already a member, or the session has ended. */
  async join(session: SessionRef, channel: string): Promise<boolean> {
    checkChannelName(channel);
    return (await this.op(session, { op: "join", channel })) === true;
  }

  async leave(session: SessionRef, channel: string): Promise<boolean> {
    return (await this.op(session, { op: "leave", channel })) === true;
  }

  /** Set (or, with undefined, remove) one key of a session's data bag. */
  async setData(session: SessionRef, key: string, value: unknown): Promise<void> {
    await this.op(session, { op: "set", key, ...(value === undefined ? {} : { value }) });
  }

  /** End a session and close its connection with a reason. Resolves false if it had ended already. */
  async kick(session: SessionRef, reason: string): Promise<boolean> {
    return (await this.op(session, { op: "kick", reason })) === true;
  }

  // ---- called by the node: traffic for this node ----

  /** A fan-out arrived for this gateway: expand it. Returns how many sessions it reached. */
  deliver(fanout: Fanout): number {
    const gateway = this.gateway;
    if (gateway === null) return 0;
    switch (fanout.kind) {
      case FanoutKind.Sessions:
        return gateway.pushTo(fanout.ids, fanout.command, fanout.payload);
      case FanoutKind.Channel:
        return gateway.pushChannel(fanout.target, fanout.command, fanout.payload);
      case FanoutKind.Scene:
        return gateway.pushScene(fanout.target, fanout.command, fanout.payload);
      case FanoutKind.Gateway:
      case FanoutKind.Everyone:
        return gateway.pushAll(fanout.command, fanout.payload);
    }
  }

  /** Run an operation on a session of this gateway; the answer is JSON. */
  async runOp(id: number, op: SessionOp): Promise<unknown> {
    const gateway = this.gateway;
    if (gateway === null) throw new CommandError(ErrorCode.Unavailable, `node ${this.name} holds no sessions`);
    const session = gateway.get(id);
    if (session === undefined) {
      if (op.op === "move" || op.op === "set") throw new CommandError(ErrorCode.Unavailable, `session ${id} has ended`);
      return false;
    }
    switch (op.op) {
      case "move":
        await gateway.changeScene(session, op.scene, op.extra);
        return true;
      case "join":
        return gateway.join(session, op.channel);
      case "leave":
        return gateway.leaveChannel(session, op.channel);
      case "set":
        gateway.setData(session, op.key, op.value);
        return true;
      case "kick":
        gateway.end(session, KickCode.Kicked, op.reason);
        return true;
    }
  }

  async runEnter(session: SessionRef, fromScene: string | null, extra: unknown): Promise<void> {
    for (const hook of this.enterHooks) await hook(session, fromScene, extra);
  }

  async runLeave(session: SessionRef, toScene: string): Promise<void> {
    for (const hook of this.leaveHooks) await hook(session, toScene);
  }

  /**
   * Offline hooks start at once (so a scene sees an old session's offline before a newer
   * message, such as the enter of the login that replaced it), each to the end: failures are logged.
   */
  runOffline(session: SessionRef): void {
    for (const hook of this.offlineHooks) {
      try {
        const result = hook(session);
        if (result instanceof Promise) result.catch((err: unknown) => this.offlineFailed(session, err));
      } catch (err) {
        this.offlineFailed(session, err);
      }
    }
  }

  private offlineFailed(session: SessionRef, err: unknown): void {
    this.log.error("offline hook failed", { session: `${session.gateway}/${session.id}`, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }

  /** The reference hooks and handlers get for a session held here. */
  refOf(session: GatewaySession): SessionRef {
    session.ref ??= { gateway: this.name, id: session.id, uid: session.uid, scene: session.scene ?? "", data: session.data };
    return session.ref;
  }

  // ---- internals ----

  private encode<T>(message: PushDef<T>, data: T): Uint8Array {
    return codecByName(message.codec ?? this.defaultCodec).encode(data);
  }

  private sendFanout(kind: FanoutKind, target: string, command: number, ids: readonly number[], payload: Uint8Array): void {
    const directed = isDirected(kind);
    if (directed && target === this.name) {
      this.deliver({ kind, target, command, ids, payload });
      return;
    }
    if (!directed) this.deliver({ kind, target, command, ids: [], payload });
    this.routes?.fanout(encodeFanout(kind, target, command, ids, payload), directed ? target : null);
  }

  private async op(session: SessionRef, op: SessionOp): Promise<unknown> {
    if (session.gateway === this.name) return this.runOp(session.id, op);
    const routes = this.routes;
    if (routes === null) throw new CommandError(ErrorCode.Unavailable, `node ${this.name} has no link towards gateway ${session.gateway}`);
    return routes.op(session.gateway, encodeSessionOp(session.gateway, session.id, op));
  }
}
