/**
 * The bodies of forwarding's raw channels (docs/protocol.md, "Forwarding channels"). Binary and
 * fixed-layout so that a gate routes a forwarded command by reading a few header bytes and
 * passes the body on untouched — no msgpack, no copy of the client's payload:
 *
 *   0        u32 BE  command      client command id (0 on the kick and gone channels)
 *   4        u32 BE  client id    the connection's id on its net node
 *   8        u8      transport    0 tcp, 1 ws
 *   9        u16 BE  N            bytes of the net node's name
 *   11       N       net          the net node's name, UTF-8
 *   11+N     u16 BE  A            bytes of the client's address
 *   13+N     A       address      the client's remote address, UTF-8
 *   13+N+A   ...     payload      the client's body (a push's body; a kick's reason, UTF-8)
 *
 * Bytes 4 .. 13+N+A are the same for every message about one client, so the net node encodes
 * them once per connection (`encodeClientWire`) and the other nodes copy them from what they got.
 */
import { readU32, writeU32, type ByteSlab } from "../protocol/index.ts";

/** A client as seen from behind a gateway: which net node holds it, and its id there. */
export interface ClientRef {
  net: string;
  id: number;
  remoteAddress: string;
  transport: "tcp" | "ws";
}

/** Raw link channels of forwarding. */
export const Channel = {
  /** Request: a client command; the reply is the command's reply (or error). */
  Forward: 1,
  /** Notify: a client notify. */
  ForwardNotify: 2,
  /** Notify, downwards: a push to a client. */
  Push: 3,
  /** Notify, downwards: kick a client; the payload is the reason. */
  Kick: 4,
  /** Notify, upwards: the client disconnected. */
  Gone: 5,
} as const;

/**
 * A client as decoded from a body. The address is decoded only when read (a gate that passes the
 * body on never needs it); until then the object holds the body, so what is kept beyond the
 * call should be `plain()`.
 */
export class WireClient implements ClientRef {
  private address: string | undefined = undefined;
  private source: Uint8Array | null;

  constructor(
    readonly net: string,
    readonly id: number,
    readonly transport: "tcp" | "ws",
    source: Uint8Array,
    private readonly start: number,
    private readonly end: number,
  ) {
    this.source = source;
  }

  get remoteAddress(): string {
    if (this.address === undefined) {
      this.address = decodeText(this.source!, this.start, this.end);
      this.source = null;
    }
    return this.address;
  }

  /** A plain copy that keeps nothing of the body alive. */
  plain(): ClientRef {
    return { net: this.net, id: this.id, remoteAddress: this.remoteAddress, transport: this.transport };
  }
}

/** A decoded forwarding body; `wire` and `payload` are views into it, made when asked for. */
export class ForwardedMessage {
  constructor(
    readonly body: Uint8Array,
    readonly command: number,
    readonly client: WireClient,
    private readonly payloadAt: number,
  ) {}
  /** The client part of the header (bytes 4 .. 13+N+A), to address replies, pushes and kicks. */
  get wire(): Uint8Array {
    return this.body.subarray(4, this.payloadAt);
  }
  get payload(): Uint8Array {
    return this.body.subarray(this.payloadAt);
  }
}

/**
 * Net node names seen lately, so a gate does not build the same string for every command. Few
 * net nodes talk to one gate; past the limit the oldest name is forgotten.
 */
export class NameCache {
  private readonly entries: { bytes: Uint8Array; text: string }[] = [];

  constructor(private readonly limit = 16) {}

  text(bytes: Uint8Array, start: number, end: number): string {
    const length = end - start;
    for (const entry of this.entries) {
      if (entry.bytes.length !== length) continue;
      let i = 0;
      while (i < length && entry.bytes[i] === bytes[start + i]) i++;
      if (i === length) return entry.text;
    }
    const text = decodeText(bytes, start, end);
    if (this.entries.length >= this.limit) this.entries.shift();
    this.entries.push({ bytes: bytes.slice(start, end), text });
    return text;
  }
}

const TRANSPORTS = ["tcp", "ws"] as const;
const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });
/** Bytes before the net name. */
const FIXED = 11;

/** The per-client part of every forwarding body about this client. */
export function encodeClientWire(client: ClientRef): Uint8Array {
  const net = utf8.encode(client.net);
  const address = utf8.encode(client.remoteAddress);
  if (net.length > 0xffff || address.length > 0xffff) throw new RangeError("a net name or client address above 65535 bytes");
  const wire = new Uint8Array(4 + 1 + 2 + net.length + 2 + address.length);
  writeU32(wire, 0, client.id);
  wire[4] = client.transport === "ws" ? 1 : 0;
  writeU16(wire, 5, net.length);
  wire.set(net, 7);
  writeU16(wire, 7 + net.length, address.length);
  wire.set(address, 9 + net.length);
  return wire;
}

/** command + client wire + payload, in one allocation from `slab`. */
export function encodeForwarded(slab: ByteSlab, command: number, wire: Uint8Array, payload: Uint8Array): Uint8Array {
  const body = slab.alloc(4 + wire.length + payload.length);
  writeU32(body, 0, command);
  body.set(wire, 4);
  body.set(payload, 4 + wire.length);
  return body;
}

/** Decode a forwarding body. Throws RangeError naming what is wrong (a peer bug: the caller answers BadPayload). */
export function decodeForwarded(body: Uint8Array, names?: NameCache): ForwardedMessage {
  if (body.length < FIXED + 2) throw new RangeError(`a forwarding body of ${body.length} bytes is shorter than its header`);
  const transport = TRANSPORTS[body[8]!];
  if (transport === undefined) throw new RangeError(`unknown transport ${body[8]}`);
  const netLength = readU16(body, 9);
  const addressAt = FIXED + netLength;
  if (netLength === 0 || body.length < addressAt + 2) throw new RangeError("a forwarding body's net name is empty or cut short");
  const payloadAt = addressAt + 2 + readU16(body, addressAt);
  if (body.length < payloadAt) throw new RangeError("a forwarding body's client address is cut short");
  const net = names === undefined ? decodeText(body, FIXED, addressAt) : names.text(body, FIXED, addressAt);
  const client = new WireClient(net, readU32(body, 4), transport, body, addressAt + 2, payloadAt);
  return new ForwardedMessage(body, readU32(body, 0), client, payloadAt);
}

function writeU16(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value >>> 8;
  bytes[offset + 1] = value;
}

function readU16(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! << 8) | bytes[offset + 1]!;
}

/** Names and addresses are short and almost always ASCII: build those without a TextDecoder call. */
function decodeText(bytes: Uint8Array, start: number, end: number): string {
  if (end - start <= 64) {
    let text = "";
    for (let i = start; i < end; i++) {
      const b = bytes[i]!;
      if (b >= 0x80) return utf8Decoder.decode(bytes.subarray(start, end));
      text += String.fromCharCode(b);
    }
    return text;
  }
  return utf8Decoder.decode(bytes.subarray(start, end));
}
