/**
 * One session as its gateway holds it: who it is, where it is, its channels, its push sequence
 * and replay buffer, and the connection it is on (none while it is detached, waiting for a
 * resume).
 */
import { ReplayBuffer } from "./replay.ts";
import type { SessionRef } from "./sessions.ts";

/** What a gateway needs of a client connection to run a session on it. */
export interface SessionConnection {
  readonly id: number;
  readonly remoteAddress: string;
  readonly transport: "tcp" | "ws";
  readonly isOpen: boolean;
  /** The session attached to this connection (set by the gateway). */
  attached: GatewaySession | null;
  /** Send one push frame whose id field is the session's sequence number. */
  sendPush(seq: number, command: number, body: Uint8Array): boolean;
  close(code: number, reason: string): void;
}

/** A command that arrived while its session was moving between scenes; run once the move ends. */
export interface HeldCommand {
  connection: SessionConnection;
  run(): void;
}

export class GatewaySession {
  scene: string | null;
  data: Readonly<Record<string, unknown>>;
  connection: SessionConnection | null = null;
  /** Of its latest connection (kept while detached, for the forwarding header). */
  remoteAddress = "";
  transport: "tcp" | "ws" = "tcp";
  token: string;
  /** Tokens this session handed out before (a reused one gets its own refusal message). */
  readonly usedTokens: string[] = [];
  /** The sequence number of the newest push (0: none yet). */
  seq = 0;
  readonly replay: ReplayBuffer;
  readonly channels = new Set<string>();
  /** Commands held while the session moves between scenes; null when it is not moving. */
  held: HeldCommand[] | null = null;
  /** Counts down to the end of a detached session. */
  detachTimer: ReturnType<typeof setTimeout> | null = null;
  /** Whether its scene has had `enter` (so it is owed `offline`). */
  entered = false;
  ended = false;
  /** The forwarding header naming this session (cached; reset when scene, data or address change). */
  wire: Uint8Array | null = null;
  /** What handlers and hooks see of it (cached the same way: a handler may read `ctx.session` often). */
  ref: SessionRef | null = null;

  constructor(
    readonly id: number,
    readonly uid: string,
    scene: string | null,
    data: Readonly<Record<string, unknown>>,
    token: string,
    replay: { messages: number; bytes: number },
  ) {
    this.scene = scene;
    this.data = data;
    this.token = token;
    this.replay = new ReplayBuffer(replay.messages, replay.bytes);
  }

  /** Its scene, data or connection changed: what was derived from them is built again when needed. */
  changed(): void {
    this.wire = null;
    this.ref = null;
  }

    /** Number, buffer and (when connected) send one push. Returns whether it went out now. */
  push(command: number, body: Uint8Array): boolean {
    const seq = ++this.seq;
    this.replay.add(seq, command, body);
    return this.connection !== null && this.connection.sendPush(seq, command, body);
  }
}
