/**
 * Client-side wire formats for the load generator, written against the byte layouts in
 * src/protocol (native.ts, firefly.ts) rather than glowfly's own codecs, so the client costs
 * the same for every server: request frames are encoded once and only the request id is
 * patched in place; replies are recognised by reading a few header bytes.
 */
export type TargetKind = "raw-net" | "raw-ws" | "native" | "firefly" | "glowfly-ws" | "forwarded";

export interface Target {
  kind: TargetKind;
  port: number;
}

/** Command id the glowfly bench server echoes on. */
export const ECHO_COMMAND = 1;

const NATIVE_HEADER = 14;
const FIREFLY_HEADER = 17;
const TYPE_HANDSHAKE = 1;
const TYPE_REQUEST = 3;
const TYPE_RESPONSE = 4;

export interface Wire {
  transport: "tcp" | "ws";
  /** Frame sent first on a new connection (native handshake), or null. */
  hello: Buffer | null;
  /** A request frame (or WebSocket message) carrying `payload`, id 0. */
  request(payload: Buffer): Buffer;
  /** Patch the request id into a frame from request(); false when the format has no id. */
  setId(frame: Buffer, id: number): boolean;
  /** Stream framing (TCP): the frame length is `lengthBase` + the u32 BE at `lengthOffset`. */
  lengthOffset: number;
  lengthBase: number;
  /** Whether the frame at `offset` answers request `id`. */
  isReply(buf: Buffer, offset: number, id: number): boolean;
  /** Whether the frame at `offset` is the answer to `hello`. */
  isHelloReply(buf: Buffer, offset: number): boolean;
}

function nativeFrame(type: number, id: number, command: number, body: Buffer): Buffer {
  const frame = Buffer.alloc(NATIVE_HEADER + body.length);
  frame.writeUInt32BE(NATIVE_HEADER - 4 + body.length, 0);
  frame[4] = type;
  frame.writeUInt32BE(id, 6);
  frame.writeUInt32BE(command, 10);
  body.copy(frame, NATIVE_HEADER);
  return frame;
}

function fireflyFrame(command: number, body: Buffer): Buffer {
  const frame = Buffer.alloc(FIREFLY_HEADER + body.length); // magic 0,0,0,0, versions 0
  frame.writeUInt32BE(body.length + 4, 9);
  frame.writeUInt32BE(command, 13);
  body.copy(frame, FIREFLY_HEADER);
  return frame;
}

const nativeWire = (transport: "tcp" | "ws"): Wire => ({
  transport,
  hello: nativeFrame(TYPE_HANDSHAKE, 0, 0, Buffer.from(JSON.stringify({ protocol: 1, client: "bench" }))),
  request: (payload) => nativeFrame(TYPE_REQUEST, 0, ECHO_COMMAND, payload),
  setId: (frame, id) => {
    frame.writeUInt32BE(id, 6);
    return true;
  },
  lengthOffset: 0,
  lengthBase: 4,
  isReply: (buf, offset, id) => buf[offset + 4] === TYPE_RESPONSE && buf.readUInt32BE(offset + 6) === id,
  isHelloReply: (buf, offset) => buf[offset + 4] === TYPE_HANDSHAKE,
});

const noId = (): boolean => false;

export function wireFor(kind: TargetKind): Wire {
  switch (kind) {
    case "native":
    case "forwarded": // the client speaks native TCP to the net node
      return nativeWire("tcp");
    case "glowfly-ws":
      return nativeWire("ws");
    case "firefly":
      return {
        transport: "tcp",
        hello: null,
        request: (payload) => fireflyFrame(ECHO_COMMAND, payload),
        setId: noId,
        lengthOffset: 9,
        lengthBase: 13,
        isReply: (buf, offset) => buf.readUInt32BE(offset + 13) === ECHO_COMMAND,
        isHelloReply: () => false,
      };
    case "raw-net":
    case "raw-ws": {
      const tcp = kind === "raw-net";
      return {
        transport: tcp ? "tcp" : "ws",
        hello: null,
        request: (payload) => (tcp ? Buffer.concat([u32(payload.length), payload]) : Buffer.from(payload)),
        setId: noId,
        lengthOffset: 0,
        lengthBase: 4,
        isReply: () => true,
        isHelloReply: () => false,
      };
    }
  }
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/**
 * Splits a TCP byte stream into frames. Whole frames in a chunk are passed as views of the
 * chunk; only a frame split across chunks is copied (into a buffer owned by the splitter).
 */
export class Splitter {
  private buf = Buffer.allocUnsafe(0);
  private held = 0;
  private readonly minHeader: number;

  constructor(
    private readonly lengthOffset: number,
    private readonly lengthBase: number,
    private readonly onFrame: (buf: Buffer, offset: number, size: number) => void,
  ) {
    this.minHeader = lengthOffset + 4;
  }

  push(chunk: Buffer): void {
    let data = chunk;
    let end = chunk.length;
    if (this.held > 0) {
      this.reserve(this.held + chunk.length);
      chunk.copy(this.buf, this.held);
      data = this.buf;
      end = this.held += chunk.length;
    }
    let offset = 0;
    while (end - offset >= this.minHeader) {
      const size = this.lengthBase + data.readUInt32BE(offset + this.lengthOffset);
      if (end - offset < size) break;
      this.onFrame(data, offset, size);
      offset += size;
    }
    const rest = end - offset;
    if (rest === 0) {
      this.held = 0;
    } else if (data === chunk) {
      this.reserve(rest);
      chunk.copy(this.buf, 0, offset);
      this.held = rest;
    } else {
      this.buf.copyWithin(0, offset, end);
      this.held = rest;
    }
  }

  private reserve(n: number): void {
    if (this.buf.length >= n) return;
    const bigger = Buffer.allocUnsafe(Math.max(n, 2 * this.buf.length, 256));
    this.buf.copy(bigger, 0, 0, this.held);
    this.buf = bigger;
  }
}
