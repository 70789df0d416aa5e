/**
 * What a handler sees of the client that sent a command. One small object per connection,
 * with its methods on the prototype: an idle connection should cost as little as possible.
 */
import { codecByName, KickCode, type CodecName, type PushDef } from "../protocol/index.ts";
import type { Connection } from "../transport/index.ts";
import type { ClientContext } from "./registry.ts";

/** Encodes push payloads with the push's own codec or the node's default. */
export class PushEncoder {
  constructor(private readonly defaultCodec: CodecName) {}
  encodePush<T>(message: PushDef<T>, data: T): Uint8Array {
    return codecByName(message.codec ?? this.defaultCodec).encode(data);
  }
}

export class ConnectionContext implements ClientContext {
  /** How forwarding bodies name this client; encoded at its first forwarded command. */
  forwardWire: Uint8Array | undefined = undefined;

  constructor(
    private readonly connection: Connection,
    private readonly encoder: PushEncoder,
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
  push<T>(message: PushDef<T>, data: T): boolean {
    return this.connection.push(message.id, this.encoder.encodePush(message, data));
  }
  kick(reason: string): void {
    this.connection.close(KickCode.Kicked, reason);
  }
}
