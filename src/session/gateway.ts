/**
 * The session gateway: sessions of one client-facing node. It verifies logins through the
 * app's hook, keeps uids unique, moves sessions between scenes, holds channel membership and a
 * scene index for fan-out, detaches sessions whose connection dropped and resumes them
 * (docs/sessions.md). Scenes are reached through {@link SceneHooks}; the node supplies them.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { CommandError, ErrorCode, KickCode, type LoginBody, type ResumeBody, type SessionReply } from "../protocol/index.ts";
import type { SessionSettings } from "../config/sessions.ts";
import type { Logger } from "../log/logger.ts";
import { GatewaySession, type HeldCommand, type SessionConnection } from "./gateway-session.ts";
import type { Replayed } from "./replay.ts";
import type { UidDirectory } from "./uids.ts";

/** What the app's verify hook returns for accepted credentials. */
export interface Verdict {
  /** The user's id: one session per uid (in the cluster when the gateway has a master, else on this gateway). */
  uid: string;
  /** The scene the session starts in (default: `sessions.scene` of the config). */
  scene?: string;
  /** The session's initial key/value bag, seen by every scene. */
  data?: Record<string, unknown>;
  /** Sent to the client in the login reply (`data`). */
  reply?: unknown;
}

export type VerifyHook = (credentials: unknown, client: { remoteAddress: string; transport: "tcp" | "ws" }) => Verdict | Promise<Verdict>;

/** How a gateway reaches the scene a session is in (locally, or through forwarding). */
export interface SceneHooks {
  enter(session: GatewaySession, scene: string, fromScene: string | null, extra: unknown): Promise<void>;
  leave(session: GatewaySession, scene: string, toScene: string): Promise<void>;
  offline(session: GatewaySession, scene: string | null): void;
}

export interface GatewayStats {
  sessions: number;
  /** Sessions whose connection dropped, waiting for a resume. */
  detached: number;
  channels: number;
  logins: number;
  loginsRefused: number;
  resumed: number;
  resumesRefused: number;
  /** Pushes sent again to resumed clients. */
  replayed: number;
  /** Pushes addressed to sessions that no longer exist (counted, not errors). */
  pushesToGone: number;
  /** Sessions ended because the same uid logged in again. */
  replaced: number;
}

const MAX_UID_BYTES = 128;
const MAX_CHANNEL_BYTES = 128;
const TOKEN_BYTES = 18;
/** A session remembers this many of its used tokens, to tell a reused token from a forged one. */
const USED_TOKENS = 4;

export class SessionGateway {
  private readonly sessions = new Map<number, GatewaySession>();
  private readonly byUid = new Map<string, GatewaySession>();
  /** Logins in progress per uid: its claim at the uid directory is not freed while one runs. */
  private readonly claiming = new Map<string, number>();
  private readonly channels = new Map<string, Set<GatewaySession>>();
  private readonly scenes = new Map<string, Set<GatewaySession>>();
  private nextId = 1;
  private verifyHook: VerifyHook | null = null;
  private readonly counters = { logins: 0, loginsRefused: 0, resumed: 0, resumesRefused: 0, replayed: 0, pushesToGone: 0, replaced: 0 };

  constructor(
    readonly name: string,
    readonly settings: SessionSettings,
    private readonly scenesOut: SceneHooks,
    private readonly log: Logger,
    private readonly maxSessions: number,
    /** Cluster-wide uid uniqueness (the master's); null: unique on this gateway only. */
    private readonly uids: UidDirectory | null = null,
  ) {
    uids?.attach({
      replaced: (uid) => {
        const session = this.byUid.get(uid);
        if (session === undefined) return;
        this.counters.replaced++;
        this.end(session, KickCode.Replaced, "logged in on another gateway");
      },
      held: () => [...this.byUid.keys()],
    });
  }

  set verify(hook: VerifyHook) {
    this.verifyHook = hook;
  }

  get(id: number): GatewaySession | undefined {
    return this.sessions.get(id);
  }

  get stats(): GatewayStats {
    let detached = 0;
    for (const session of this.sessions.values()) if (session.connection === null) detached++;
    return { sessions: this.sessions.size, detached, channels: this.channels.size, ...this.counters };
  }

  // ---- login, resume, logout ----

  async login(connection: SessionConnection, body: LoginBody): Promise<SessionReply> {
    if (connection.attached !== null) throw new CommandError(ErrorCode.AlreadyLoggedIn, "this connection already has a session");
    const verdict = await this.runVerify(connection, body.credentials);
    if (!connection.isOpen || connection.attached !== null) throw new CommandError(ErrorCode.LoginRefused, "the connection closed or logged in during verification");
    const refuseNew = this.settings.duplicateLogin === "refuseNew";
    if (refuseNew && this.byUid.has(verdict.uid)) this.refuse(`uid ${verdict.uid} is already logged in`);
    if (this.uids === null) return this.open(connection, verdict);
    const uid = verdict.uid;
    this.claiming.set(uid, (this.claiming.get(uid) ?? 0) + 1);
    try {
      const claim = await this.uids.claim(uid, refuseNew);
      if (!claim.ok) this.refuse(`uid ${uid} is logged in ${claim.holder === null ? "elsewhere" : `on gateway ${claim.holder}`}`);
      if (!connection.isOpen || connection.attached !== null) throw new CommandError(ErrorCode.LoginRefused, "the connection closed or logged in while its uid was checked");
      return await this.open(connection, verdict);
    } finally {
      const left = this.claiming.get(uid)! - 1;
      if (left > 0) this.claiming.set(uid, left);
      else this.claiming.delete(uid);
      // Refused or failed: the uid is free again here unless another login or session has it.
      if (left === 0 && !this.byUid.has(uid)) this.uids.free(uid);
    }
  }

  /** Create the session of a verified (and, in a cluster, claimed) login and enter its scene. */
  private async open(connection: SessionConnection, verdict: Verdict): Promise<SessionReply> {
    const existing = this.byUid.get(verdict.uid);
    if (existing !== undefined) {
      if (this.settings.duplicateLogin === "refuseNew") this.refuse(`uid ${verdict.uid} is already logged in`);
      this.counters.replaced++;
      this.end(existing, KickCode.Replaced, "logged in on another connection");
    }
    if (this.sessions.size >= this.maxSessions) this.refuse(`this gateway holds its maximum of ${this.maxSessions} sessions`);
    const scene = verdict.scene ?? this.settings.scene;
    const session = new GatewaySession(this.allocateId(), verdict.uid, scene, verdict.data ?? {}, newToken(), {
      messages: this.settings.replayMessages,
      bytes: this.settings.replayBytes,
    });
    this.sessions.set(session.id, session);
    this.byUid.set(session.uid, session);
    this.index(session);
    this.attach(session, connection);
    if (scene !== null) {
      // Commands sent before the scene has taken the session wait for it, as during a move.
      session.held = [];
      try {
        await this.withTimeout(this.scenesOut.enter(session, scene, null, undefined), `scene ${scene} did not answer enter`);
        // Ended while entering (replaced, kicked, logged out): the scene took it and is owed the offline.
        if (session.ended) this.scenesOut.offline(session, scene);
        else session.entered = true;
      } catch (err) {
        this.end(session);
        this.refuse(`scene ${scene} did not take the session: ${messageOf(err)}`);
      } finally {
        this.releaseHeld(session);
      }
    }
    if (session.ended) this.refuse("the session ended while it was entering its scene");
    this.counters.logins++;
    return { ...this.reply(session), ...(verdict.reply === undefined ? {} : { data: verdict.reply }) };
  }

  /**
   * Take a detached (or half-dead) session over on a new connection. Synchronous: the reply and
   * the replayed pushes go out in the same turn, before any new push can slip between them.
   */
  resume(connection: SessionConnection, body: ResumeBody): { reply: SessionReply; replay: Replayed[] } {
    if (connection.attached !== null) throw new CommandError(ErrorCode.AlreadyLoggedIn, "this connection already has a session");
    if (this.settings.resumeWindowMs === 0) this.refuseResume("resume is turned off on this gateway");
    const dot = body.token.indexOf(".");
    const session = dot > 0 ? this.sessions.get(Number(body.token.slice(0, dot))) : undefined;
    if (session === undefined || session.ended) this.refuseResume("unknown or expired session");
    if (!sameToken(session.token, body.token)) {
      this.refuseResume(session.usedTokens.some((t) => sameToken(t, body.token)) ? "token already used" : "unknown or expired session");
    }
    const replay = session.replay.since(body.lastSeq, session.seq);
    if (replay === null) this.refuseResume(`pushes after ${body.lastSeq} are no longer buffered (the session is at ${session.seq})`);
    const old = session.connection;
    if (old !== null) {
      old.attached = null;
      old.close(KickCode.Replaced, "the session resumed on another connection");
    }
    this.attach(session, connection);
    session.usedTokens.push(session.token);
    if (session.usedTokens.length > USED_TOKENS) session.usedTokens.shift();
    session.token = newToken();
    this.counters.resumed++;
    this.counters.replayed += replay.length;
    return { reply: { ...this.reply(session), replayed: replay.length }, replay };
  }

  logout(connection: SessionConnection): void {
    const session = connection.attached;
    if (session === null) throw new CommandError(ErrorCode.LoginRequired, "this connection has no session");
    connection.attached = null;
    session.connection = null;
    this.end(session);
  }

  /** A connection closed: its session waits for a resume (or ends, with resume off). */
  connectionClosed(connection: SessionConnection): void {
    const session = connection.attached;
    connection.attached = null;
    if (session === null || session.connection !== connection) return;
    session.connection = null;
    session.changed();
    if (this.settings.resumeWindowMs === 0) {
      this.end(session);
      return;
    }
    session.detachTimer = setTimeout(() => this.end(session), this.settings.resumeWindowMs);
    session.detachTimer.unref();
  }

  /**
   * End a session: close its connection (with `code` when given), leave its channels, free its
   * uid and tell its scene `offline`.
   */
  end(session: GatewaySession, code?: number, reason = ""): void {
    if (session.ended) return;
    session.ended = true;
    if (session.detachTimer !== null) clearTimeout(session.detachTimer);
    this.sessions.delete(session.id);
    if (this.byUid.get(session.uid) === session) {
      this.byUid.delete(session.uid);
      if (!this.claiming.has(session.uid)) this.uids?.free(session.uid);
    }
    for (const channel of session.channels) this.leaveChannel(session, channel);
    this.unindex(session);
    const connection = session.connection;
    session.connection = null;
    if (connection !== null) {
      connection.attached = null;
      if (code !== undefined) connection.close(code, reason);
    }
    this.releaseHeld(session);
    if (session.entered) this.scenesOut.offline(session, session.scene);
  }

  // ---- moving between scenes ----

  /**
   * Move a session to `scene`. The new scene's `enter` runs first; if it fails nothing changes
   * and this rejects. Commands from the client wait meanwhile and then go to the scene the
   * session ended up in; the old scene gets `leave` after the move.
   */
  async changeScene(session: GatewaySession, scene: string, extra: unknown): Promise<void> {
    if (session.ended) throw new Error(`session ${session.id} has ended`);
    if (session.held !== null) throw new Error(`session ${session.id} is already moving`);
    const from = session.scene;
    if (from === scene) return;
    session.held = [];
    try {
      await this.withTimeout(this.scenesOut.enter(session, scene, from, extra), `scene ${scene} did not answer enter`);
      if (session.ended) {
        // It ended while entering: the new scene took it and is owed the offline.
        this.scenesOut.offline(session, scene);
        return;
      }
      this.unindex(session);
      session.scene = scene;
      session.entered = true;
      session.changed();
      this.index(session);
      if (from !== null) {
        this.scenesOut.leave(session, from, scene).catch((err: unknown) => this.log.warn("leave hook failed", { session: session.id, scene: from, error: messageOf(err) }));
      }
    } finally {
      this.releaseHeld(session);
    }
  }

  /** A scene node is gone: end its sessions, or move them to the fallback scene (`sceneLost`). */
  sceneLost(scene: string): void {
    const members = this.scenes.get(scene);
    if (members === undefined) return;
    const policy = this.settings.sceneLost;
    this.log.warn("scene lost", { scene, sessions: members.size, policy: policy === "kick" ? "kick" : `fallback ${policy.fallback}` });
    for (const session of [...members]) {
      if (policy === "kick" || policy.fallback === scene) {
        session.entered = false; // its scene is gone: nobody to tell offline
        this.end(session, KickCode.SceneLost, `scene ${scene} was lost`);
        continue;
      }
      session.entered = false;
      this.changeScene(session, policy.fallback, { sceneLost: scene }).catch((err: unknown) => {
        this.log.warn("fallback scene did not take a session", { session: session.id, scene: policy.fallback, error: messageOf(err) });
        this.end(session, KickCode.SceneLost, `scene ${scene} was lost and ${policy.fallback} did not take the session`);
      });
    }
  }

  /** Hold a command while its session moves; false if the session is not moving. */
  hold(session: GatewaySession, command: HeldCommand): boolean {
    if (session.held === null) return false;
    session.held.push(command);
    return true;
  }

  // ---- data and channels ----

  setData(session: GatewaySession, key: string, value: unknown): void {
    const next: Record<string, unknown> = { ...session.data };
    if (value === undefined) delete next[key];
    else next[key] = value;
    this.checkData(next);
    session.data = next;
    session.changed();
  }

  join(session: GatewaySession, channel: string): boolean {
    checkChannelName(channel);
    if (session.channels.has(channel)) return false;
    if (session.channels.size >= this.settings.maxChannels) throw new Error(`session ${session.id} is in its maximum of ${this.settings.maxChannels} channels`);
    session.channels.add(channel);
    let members = this.channels.get(channel);
    if (members === undefined) {
      members = new Set();
      this.channels.set(channel, members);
    }
    members.add(session);
    return true;
  }

  leaveChannel(session: GatewaySession, channel: string): boolean {
    if (!session.channels.delete(channel)) return false;
    const members = this.channels.get(channel);
    members?.delete(session);
    if (members?.size === 0) this.channels.delete(channel);
    return true;
  }

  /** Sessions in a channel on this gateway. */
  members(channel: string): readonly GatewaySession[] {
    return [...(this.channels.get(channel) ?? [])];
  }

  // ---- fan-out: each returns how many sessions it reached ----

  pushTo(ids: Iterable<number>, command: number, body: Uint8Array): number {
    let reached = 0;
    for (const id of ids) {
      const session = this.sessions.get(id);
      if (session === undefined) this.counters.pushesToGone++;
      else {
        session.push(command, body);
        reached++;
      }
    }
    return reached;
  }

  pushChannel(channel: string, command: number, body: Uint8Array): number {
    return pushAll(this.channels.get(channel), command, body);
  }

  pushScene(scene: string, command: number, body: Uint8Array): number {
    return pushAll(this.scenes.get(scene), command, body);
  }

  pushAll(command: number, body: Uint8Array): number {
    return pushAll(this.sessions.values(), command, body);
  }

  /** End every session (the node is stopping): scenes get offline, connections are closed by the node. */
  close(): void {
    for (const session of [...this.sessions.values()]) this.end(session);
  }

  // ---- internals ----

  private async runVerify(connection: SessionConnection, credentials: unknown): Promise<Verdict & { scene?: string; data?: Record<string, unknown> }> {
    const hook = this.verifyHook;
    if (hook === null) this.refuse("this gateway has no verify hook");
    let verdict: Verdict;
    try {
      verdict = await this.withTimeout(
        Promise.resolve().then(() => hook(credentials, { remoteAddress: connection.remoteAddress, transport: connection.transport })),
        `verify did not answer within ${this.settings.verifyTimeoutMs} ms`,
        this.settings.verifyTimeoutMs,
      );
    } catch (err) {
      this.counters.loginsRefused++;
      if (err instanceof CommandError) throw new CommandError(ErrorCode.LoginRefused, err.message);
      this.log.warn("verify hook failed", { connection: connection.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      throw new CommandError(ErrorCode.LoginRefused, err instanceof TimeoutError ? err.message : "login refused");
    }
    return this.checkVerdict(verdict);
  }

  private checkVerdict(verdict: unknown): Verdict {
    if (typeof verdict !== "object" || verdict === null) this.refuse("verify returned no verdict", true);
    const v = verdict as { uid?: unknown; scene?: unknown; data?: unknown; reply?: unknown };
    const uid = typeof v.uid === "number" && Number.isFinite(v.uid) ? String(v.uid) : v.uid;
    if (typeof uid !== "string" || uid.length === 0 || Buffer.byteLength(uid) > MAX_UID_BYTES) this.refuse(`verify returned a uid that is not a string of 1-${MAX_UID_BYTES} bytes`, true);
    if (v.scene !== undefined && (typeof v.scene !== "string" || v.scene.length === 0)) this.refuse("verify returned a scene that is not a node name", true);
    if (v.data !== undefined && (typeof v.data !== "object" || v.data === null || Array.isArray(v.data))) this.refuse("verify returned data that is not an object", true);
    const data = v.data as Record<string, unknown> | undefined;
    if (data !== undefined) {
      try {
        this.checkData(data);
      } catch (err) {
        this.refuse(`verify returned unusable data: ${messageOf(err)}`, true);
      }
    }
    return { uid, ...(v.scene === undefined ? {} : { scene: v.scene }), ...(data === undefined ? {} : { data }), reply: v.reply };
  }

  private checkData(data: Record<string, unknown>): void {
    let size: number;
    try {
      size = Buffer.byteLength(JSON.stringify(data));
    } catch (err) {
      throw new Error(`session data is not JSON: ${messageOf(err)}`, { cause: err });
    }
    if (size > this.settings.maxDataBytes) throw new Error(`session data of ${size} bytes exceeds sessions.maxDataBytes (${this.settings.maxDataBytes})`);
  }

  private attach(session: GatewaySession, connection: SessionConnection): void {
    if (session.detachTimer !== null) clearTimeout(session.detachTimer);
    session.detachTimer = null;
    session.connection = connection;
    session.remoteAddress = connection.remoteAddress;
    session.transport = connection.transport;
    session.changed();
    connection.attached = session;
  }

  private reply(session: GatewaySession): SessionReply {
    return { session: session.id, uid: session.uid, scene: session.scene ?? "", token: `${session.id}.${session.token}`, resumeWindowMs: this.settings.resumeWindowMs, gateway: this.name };
  }

  private releaseHeld(session: GatewaySession): void {
    const held = session.held;
    session.held = null;
    if (held === null) return;
    for (const command of held) command.run();
  }

  private index(session: GatewaySession): void {
    if (session.scene === null) return;
    let members = this.scenes.get(session.scene);
    if (members === undefined) {
      members = new Set();
      this.scenes.set(session.scene, members);
    }
    members.add(session);
  }

  private unindex(session: GatewaySession): void {
    if (session.scene === null) return;
    const members = this.scenes.get(session.scene);
    members?.delete(session);
    if (members?.size === 0) this.scenes.delete(session.scene);
  }

  private allocateId(): number {
    let id = this.nextId;
    while (this.sessions.has(id) || id === 0) id = (id + 1) >>> 0;
    this.nextId = (id + 1) >>> 0;
    return id;
  }

  private withTimeout<T>(work: Promise<T>, message: string, ms = this.settings.hookTimeoutMs): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(message)), ms);
    });
    return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
  }

  private refuse(message: string, logged = false): never {
    this.counters.loginsRefused++;
    if (logged) this.log.warn("login refused", { why: message });
    throw new CommandError(ErrorCode.LoginRefused, message);
  }

  private refuseResume(message: string): never {
    this.counters.resumesRefused++;
    throw new CommandError(ErrorCode.ResumeRefused, message);
  }
}

class TimeoutError extends Error {
  override readonly name = "TimeoutError";
}

function pushAll(sessions: Iterable<GatewaySession> | undefined, command: number, body: Uint8Array): number {
  if (sessions === undefined) return 0;
  let reached = 0;
  for (const session of sessions) {
    session.push(command, body);
    reached++;
  }
  return reached;
}

function newToken(): string {
  return randomBytes(TOKEN_BYTES).toString("base64url");
}

/** Constant-time comparison, so a token cannot be guessed byte by byte from response times. */
function sameToken(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given.slice(given.indexOf(".") + 1));
  return a.length === b.length && timingSafeEqual(a, b);
}

export function checkChannelName(channel: string): void {
  if (typeof channel !== "string" || channel.length === 0 || Buffer.byteLength(channel) > MAX_CHANNEL_BYTES) {
    throw new Error(`a channel name must be a string of 1-${MAX_CHANNEL_BYTES} bytes`);
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
