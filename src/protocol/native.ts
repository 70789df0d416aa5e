/**
 * glowfly's native frame (documented byte by byte in docs/protocol.md):
 *
 *   0  u32 BE  length   bytes after this field = 10 + body length
 *   4  u8      type     MessageType
 *   5  u8      flags    0 in protocol version 1
 *   6  u32 BE  id       request id (Request/Response/Error), else 0
 *  10  u32 BE  command  command id
 *  14  ...     body
 */
import { ProtocolError } from "./errors.ts";
import { checkBodyLength, DEFAULT_MAX_BODY, FrameDecoder, type FrameFormat, type HeaderReader } from "./frame.ts";
import { MAX_MESSAGE_TYPE, type Message, type MessageType } from "./message.ts";
import { ByteSlab, readU32, writeU32, type FrameAllocator } from "./slab.ts";

export const NATIVE_HEADER_SIZE = 14;
/** Header bytes counted by the length field (everything after it except the body). */
const LENGTH_OVERHEAD = NATIVE_HEADER_SIZE - 4;

export interface NativeFormatOptions {
  /** Largest body accepted or produced (default 1 MiB). */
  maxBody?: number;
}

export function nativeFormat(options: NativeFormatOptions = {}): FrameFormat {
  const maxBody = options.maxBody ?? DEFAULT_MAX_BODY;
  const reader: HeaderReader = {
    headerSize: NATIVE_HEADER_SIZE,
    bodyLength(bytes, offset) {
      const length = readU32(bytes, offset);
      if (length < LENGTH_OVERHEAD) {
        throw new ProtocolError("bad-length", `native frame length ${length} is below the minimum of ${LENGTH_OVERHEAD}`);
      }
      const type = bytes[offset + 4]!;
      if (type === 0 || type > MAX_MESSAGE_TYPE) {
        throw new ProtocolError("bad-type", `unknown message type ${type}`);
      }
      const flags = bytes[offset + 5]!;
      if (flags !== 0) throw new ProtocolError("bad-flags", `unsupported flags 0x${flags.toString(16)}`);
      return checkBodyLength(length - LENGTH_OVERHEAD, maxBody);
    },
    message(bytes, offset, body) {
      return {
        type: bytes[offset + 4] as MessageType,
        id: readU32(bytes, offset + 6),
        command: readU32(bytes, offset + 10),
        body,
      };
    },
  };
  const slab = new ByteSlab();
  return {
    name: "native",
    headerSize: NATIVE_HEADER_SIZE,
    maxBody,
    hasControlMessages: true,
    encode: (message) => encodeNative(message, maxBody, slab),
    createDecoder: () => new FrameDecoder(reader),
  };
}

/**
 * Encode one native frame, in memory from `slab` when given (encoders on hot paths pass one).
 * Throws RangeError for a body over `maxBody` (a server bug, not input).
 */
export function encodeNative(message: Message, maxBody = DEFAULT_MAX_BODY, slab?: FrameAllocator): Uint8Array {
  checkEncodable(message.body.length, maxBody);
  const size = NATIVE_HEADER_SIZE + message.body.length;
  const frame = slab === undefined ? new Uint8Array(size) : slab.alloc(size);
  writeNative(frame, 0, message.type, message.id, message.command, message.body);
  return frame;
}

/**
 * Write one native frame at `offset` of `target`, which must have NATIVE_HEADER_SIZE +
 * body.length bytes there (callers that build frames in place, like a link's write batch).
 */
export function writeNative(target: Uint8Array, offset: number, type: MessageType, id: number, command: number, body: Uint8Array): void {
  writeU32(target, offset, LENGTH_OVERHEAD + body.length);
  target[offset + 4] = type;
  target[offset + 5] = 0;
  writeU32(target, offset + 6, id);
  writeU32(target, offset + 10, command);
  target.set(body, offset + NATIVE_HEADER_SIZE);
}

/** Throws RangeError for a body over `maxBody` (a server bug, not input). */
export function checkEncodable(bodyLength: number, maxBody: number): void {
  if (bodyLength > maxBody) throw new RangeError(`body of ${bodyLength} bytes exceeds the frame limit of ${maxBody}`);
}
