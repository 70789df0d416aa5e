/**
 * The bodies of forwarding's raw channels (docs/protocol.md, "Forwarding channels"). Binary and
 * fixed-layout so that a gate routes a forwarded command by reading a few header bytes and
 * passes the body on untouched — no msgpack, no copy of the client's payload:
 *
 *   0        u32 BE  command      client command id (0 on the kick and gone channels)
 *   4        u32 BE  client id    the connection's id on its net node (the session id on a session gateway)
 *   8        u8      transport    0 tcp, 1 ws
 *   9        u16 BE  N            bytes of the net node's name
 *   11       N       net          the net node's name, UTF-8
 *   11+N     u16 BE  A            bytes of the client's address
 *   13+N     A       address      the client's remote address, UTF-8
 *   13+N+A   u16 BE  S            bytes of the session's scene (0: no session, or no scene)
 *   15+N+A   S       scene        the scene's node name, UTF-8
 *   15+N+A+S u16 BE  D            bytes of the session (0: no session)
 *   17+N+A+S D       session      UTF-8 JSON {"uid": string, "data": object}
 *   17+…+D   ...     payload      the client's body (a push's body; a kick's reason, UTF-8)
 *
 * Bytes 4 .. the payload are the same for every message about one client, so the net node encodes
 * them once per connection (`encodeClientWire`) and the other nodes copy them from what they got.
 */
import { readU32, writeU32, type ByteSlab } from "../protocol/index.ts";

/** A client as seen from behind a gateway: which net node holds it, and its id there. */
export interface ClientRef {
  net: string;
  id: number;
  remoteAddress: string;
  transport: "tcp" | "ws";
  /** The session's scene, for clients of a session gateway ("" or absent: none). */
  scene?: string;
  /** The session, for clients of a session gateway (absent: not logged in there). */
  session?: SessionState | null;
}

/** What travels with every forwarded command of a session. */
export interface SessionState {
  uid: string;
  data: Readonly<Record<string, unknown>>;
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
  private sessionValue: SessionState | null | undefined = undefined;
  private source: Uint8Array | null;

  constructor(
    readonly net: string,
    readonly id: number,
    readonly transport: "tcp" | "ws",
    readonly scene: string,
    source: Uint8Array,
    private readonly start: number,
    private readonly end: number,
    private readonly sessionStart: number,
    private readonly sessionEnd: number,
  ) {
    this.source = source;
  }

  get remoteAddress(): string {
    this.materialize();
    return this.address!;
  }

  get session(): SessionState | null {
    this.materialize();
    return this.sessionValue!;
  }

  /** Decode the lazily read parts at once and let go of the body. */
  private materialize(): void {
    const source = this.source;
    if (source === null) return;
    this.address = decodeText(source, this.start, this.end);
    this.sessionValue = this.sessionEnd === this.sessionStart ? null : decodeSession(source, this.sessionStart, this.sessionEnd);
    this.source = null;
  }

  /** A plain copy that keeps nothing of the body alive. */
  plain(): ClientRef {
    const ref: ClientRef = { net: this.net, id: this.id, remoteAddress: this.remoteAddress, transport: this.transport };
    if (this.scene !== "") ref.scene = this.scene;
    if (this.session !== null) ref.session = this.session;
    return ref;
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
  /** The client part of the header (bytes 4 .. the payload), to address replies, pushes and kicks. */
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
const EMPTY = new Uint8Array(0);
const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });
/** Bytes before the net name. */
const FIXED = 11;

/** The per-client part of every forwarding body about this client. */
export function encodeClientWire(client: ClientRef): Uint8Array {
  const net = utf8.encode(client.net);
  const address = utf8.encode(client.remoteAddress);
  const scene = utf8.encode(client.scene ?? "");
  const session = client.session == null ? EMPTY : utf8.encode(JSON.stringify({ uid: client.session.uid, data: client.session.data }));
  for (const part of [net, address, scene, session]) if (part.length > 0xffff) throw new RangeError("a client header field above 65535 bytes");
  const wire = new Uint8Array(4 + 1 + 2 + net.length + 2 + address.length + 2 + scene.length + 2 + session.length);
  writeU32(wire, 0, client.id);
  wire[4] = client.transport === "ws" ? 1 : 0;
  let at = 5;
  for (const part of [net, address, scene, session]) {
    writeU16(wire, at, part.length);
    wire.set(part, at + 2);
    at += 2 + part.length;
  }
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
  if (body.length < FIXED + 6) throw new RangeError(`a forwarding body of ${body.length} bytes is shorter than its header`);
  const transport = TRANSPORTS[body[8]!];
  if (transport === undefined) throw new RangeError(`unknown transport ${body[8]}`);
  const netLength = readU16(body, 9);
  const addressAt = FIXED + netLength;
  if (netLength === 0 || body.length < addressAt + 2) throw new RangeError("a forwarding body's net name is empty or cut short");
  const sceneAt = addressAt + 2 + readU16(body, addressAt);
  if (body.length < sceneAt + 2) throw new RangeError("a forwarding body's client address is cut short");
  const sessionAt = sceneAt + 2 + readU16(body, sceneAt);
  if (body.length < sessionAt + 2) throw new RangeError("a forwarding body's scene is cut short");
  const payloadAt = sessionAt + 2 + readU16(body, sessionAt);
  if (body.length < payloadAt) throw new RangeError("a forwarding body's session is cut short");
  const net = nameText(names, body, FIXED, addressAt);
  const scene = sceneAt + 2 === sessionAt ? "" : nameText(names, body, sceneAt + 2, sessionAt);
  const client = new WireClient(net, readU32(body, 4), transport, scene, body, addressAt + 2, sceneAt, sessionAt + 2, payloadAt);
  return new ForwardedMessage(body, readU32(body, 0), client, payloadAt);
}

function nameText(names: NameCache | undefined, bytes: Uint8Array, start: number, end: number): string {
  return names === undefined ? decodeText(bytes, start, end) : names.text(bytes, start, end);
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

/** The session part of a header: JSON written by a gateway. A peer bug if it is not an object with a string uid. */
function decodeSession(bytes: Uint8Array, start: number, end: number): SessionState {
  const value: unknown = JSON.parse(utf8Decoder.decode(bytes.subarray(start, end)));
  const record = value as { uid?: unknown; data?: unknown } | null;
  if (typeof record !== "object" || record === null || typeof record.uid !== "string") throw new RangeError("a forwarding body's session is not {uid, data}");
  const data = typeof record.data === "object" && record.data !== null && !Array.isArray(record.data) ? (record.data as Record<string, unknown>) : {};
  return { uid: record.uid, data };
}
