/**
 * The message model shared by every frame format. A frame format turns bytes into
 * {@link Message}s and back; everything above the protocol layer sees only messages.
 */

/** Message types of the native protocol (the byte value on the wire). */
export const MessageType = {
  /** Client → server first frame, and the server's answer. Body: UTF-8 JSON. */
  Handshake: 1,
  /** Liveness probe from the server; the client answers with the same type. */
  Heartbeat: 2,
  /** Client → server command that expects a reply correlated by `id`. */
  Request: 3,
  /** Server → client successful reply to the request with the same `id`. */
  Response: 4,
  /** Server → client failed reply to the request with the same `id`. Body: UTF-8 JSON {code, message}. */
  Error: 5,
  /** Client → server command without a reply. */
  Notify: 6,
  /** Server → client message that was not asked for. */
  Push: 7,
  /** Server → client notice that the connection is being closed. Body: UTF-8 JSON {code, reason}. */
  Kick: 8,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** The highest message type value defined by this protocol version. */
export const MAX_MESSAGE_TYPE = 8;

/** Version of the native protocol carried in the handshake. */
export const PROTOCOL_VERSION = 1;

export interface Message {
  type: MessageType;
  /** Request id for Request/Response/Error; 0 for other types (and for every Firefly frame). */
  id: number;
  /** Command id (u32). */
  command: number;
  /** Payload bytes, interpreted by the command's payload codec. */
  body: Uint8Array;
}

/** Largest value a u32 field can hold. */
export const U32_MAX = 0xffff_ffff;

/** True when `n` fits an unsigned 32-bit field. */
export function isU32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= U32_MAX;
}
