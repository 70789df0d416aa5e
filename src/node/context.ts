/**
 * What a handler sees of the client that sent a command. One small object per connection,
 * with its methods on the prototype: an idle connection should cost as little as possible.
 * On a session gateway it is also what the gateway attaches a session to.
 */
import { codecByName, KickCode, MessageType, type CodecName, type PushDef } from "../protocol/index.ts";
import type { Connection } from "../transport/index.ts";
import type { GatewaySession, SessionConnection, SessionRef, Sessions } from "../session/index.ts";
import type { ClientContext } from "./registry.ts";

/** Encodes push payloads with the push's own codec or the node's default. */
export class PushEncoder {
  constructor(private readonly defaultCodec: CodecName) {}
  encodePush<T>(message: PushDef<T>, data: T): Uint8Array {
    return codecByName(message.codec ?? this.defaultCodec).encode(data);
  }
}

export class ConnectionContext implements ClientContext, SessionConnection {
  /** How forwarding bodies name this client; encoded at its first forwarded command. */
  forwardWire: Uint8Array | undefined = undefined;
  /** The session attached to this connection (session gateways only). */
  attached: GatewaySession | null = null;
  /** Kicks a gateway connection that has not logged in in time; cleared by a login, resume or close. */
  loginTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly connection: Connection,
    private readonly encoder: PushEncoder,
    private readonly sessions: Sessions,
  ) {}
  get id(): number {
    return this.connection.id;
  }
  get remoteAddress(): string {
    return this.connection.remoteAddress;
  }
  get transport(): "tcp" | "ws" {
    return this.connection.transport;
  }
  get isOpen(): boolean {
    return this.connection.isOpen;
  }
  get session(): SessionRef | undefined {
    return this.attached === null ? undefined : this.sessions.refOf(this.attached);
  }
  /** To a logged-in client, a push is numbered and kept for a resume. */
  push<T>(message: PushDef<T>, data: T): boolean {
    const body = this.encoder.encodePush(message, data);
    if (this.attached !== null) return this.attached.push(message.id, body);
    return this.connection.push(message.id, body);
  }
  kick(reason: string): void {
    const session = this.attached;
    if (session !== null && this.sessions.gateway !== null) this.sessions.gateway.end(session, KickCode.Kicked, reason);
    else this.connection.close(KickCode.Kicked, reason);
  }
  /** The connection has a session: it no longer needs the login deadline. */
  clearLoginTimer(): void {
    if (this.loginTimer !== null) clearTimeout(this.loginTimer);
    this.loginTimer = null;
  }
  sendPush(seq: number, command: number, body: Uint8Array): boolean {
    return this.connection.send({ type: MessageType.Push, id: seq, command, body });
  }
  close(code: number, reason: string): void {
    this.connection.close(code, reason);
  }
}
