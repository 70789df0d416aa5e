/**
 * Firefly's client frame, byte-exact (firefly/netconnect/datapack.py), big-endian:
 *
 *   0  4 x u8  magic (HEAD_0..HEAD_3)
 *   4  u8      protocol version
 *   5  u32     server version
 *   9  u32     length = body length + 4 (it counts the command field)
 *  13  u32     command id
 *  17  ...     body
 *
 * Firefly has no message types: every client frame is a request, every server frame carries
 * a command id (a reply goes back under the request's id; a push under its topic id).
 */
import { ProtocolError } from "./errors.ts";
import { checkBodyLength, DEFAULT_MAX_BODY, FrameDecoder, type FrameFormat, type HeaderReader } from "./frame.ts";
import { isU32, MessageType, type Message } from "./message.ts";
import { ByteSlab, readU32, writeU32 } from "./slab.ts";

export const FIREFLY_HEADER_SIZE = 17;

export interface FireflyFormatOptions {
  /** The four magic bytes (Firefly's default: 0,0,0,0). */
  magic?: readonly [number, number, number, number];
  /** u8 protocol version (default 0). */
  protocolVersion?: number;
  /** u32 server version (default 0). */
  serverVersion?: number;
  /** Largest body accepted or produced (default 1 MiB). */
  maxBody?: number;
  /**
   * What a failed request answers (Firefly itself has no error frame): "reply" sends a frame
   * under the request's command id whose body is the UTF-8 JSON {"code","message"}; "drop"
   * sends nothing, as Firefly did for handlers that returned nothing. Default "reply".
   */
  errors?: "reply" | "drop";
}

export function fireflyFormat(options: FireflyFormatOptions = {}): FrameFormat {
  const magic = options.magic ?? [0, 0, 0, 0];
  const protocolVersion = options.protocolVersion ?? 0;
  const serverVersion = options.serverVersion ?? 0;
  const maxBody = options.maxBody ?? DEFAULT_MAX_BODY;
  const errors = options.errors ?? "reply";
  if (magic.length !== 4 || !magic.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) {
    throw new RangeError("firefly magic must be four integers from 0 to 255");
  }
  if (!Number.isInteger(protocolVersion) || protocolVersion < 0 || protocolVersion > 255) {
    throw new RangeError("firefly protocolVersion must be an integer from 0 to 255");
  }
  if (!isU32(serverVersion)) throw new RangeError("firefly serverVersion must be an unsigned 32-bit integer");

  const header = new Uint8Array(9);
  header.set(magic, 0);
  header[4] = protocolVersion;
  writeU32(header, 5, serverVersion);

  const reader: HeaderReader = {
    headerSize: FIREFLY_HEADER_SIZE,
    bodyLength(bytes, offset) {
      for (let i = 0; i < 4; i++) {
        if (bytes[offset + i] !== header[i]) {
          throw new ProtocolError("bad-magic", "illegal data package: magic bytes do not match");
        }
      }
      if (bytes[offset + 4] !== protocolVersion || readU32(bytes, offset + 5) !== serverVersion) {
        throw new ProtocolError("bad-version", "illegal data package: protocol or server version does not match");
      }
      const length = readU32(bytes, offset + 9);
      if (length < 4) throw new ProtocolError("bad-length", `firefly length ${length} is below 4`);
      return checkBodyLength(length - 4, maxBody);
    },
    message(bytes, offset, body) {
      return { type: MessageType.Request, id: 0, command: readU32(bytes, offset + 13), body };
    },
  };

  const slab = new ByteSlab();
  return {
    name: "firefly",
    headerSize: FIREFLY_HEADER_SIZE,
    maxBody,
    hasControlMessages: false,
    encode(message: Message): Uint8Array | null {
      // Firefly clients only understand command frames: replies, pushes (and requests, for test clients).
      const type = message.type;
      const carried =
        type === MessageType.Response ||
        type === MessageType.Push ||
        type === MessageType.Request ||
        (type === MessageType.Error && errors === "reply");
      if (!carried) return null;
      const bodyLength = message.body.length;
      if (bodyLength > maxBody) throw new RangeError(`body of ${bodyLength} bytes exceeds the frame limit of ${maxBody}`);
      const frame = slab.alloc(FIREFLY_HEADER_SIZE + bodyLength);
      frame.set(header, 0);
      writeU32(frame, 9, bodyLength + 4);
      writeU32(frame, 13, message.command);
      frame.set(message.body, FIREFLY_HEADER_SIZE);
      return frame;
    },
    createDecoder: () => new FrameDecoder(reader),
  };
}
