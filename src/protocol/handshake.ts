/**
 * Handshake and control-message bodies of the native protocol. They are always UTF-8 JSON,
 * whatever payload codec the commands use, so any client can read them without msgpack.
 */
import { jsonCodec } from "./codec.ts";
import { ProtocolError } from "./errors.ts";

/** Client → server, first frame on a native connection. */
export interface ClientHello {
  /** Native protocol version the client speaks. */
  protocol: number;
  /** Free-form client identification, for logs. */
  client?: string;
}

/** Server → client answer to the hello. */
export interface ServerHello {
  protocol: number;
  /** The server sends a heartbeat after this long without hearing from the client. */
  heartbeatMs: number;
  /** The server closes the connection after this long without hearing from the client. */
  idleTimeoutMs: number;
  /** Largest body the server accepts. */
  maxBodyBytes: number;
  /** Requests the client may have in flight at once. */
  maxInFlight: number;
  /** The server's default payload codec. */
  codec: string;
}

export interface ErrorBody {
  code: number;
  message: string;
}

export interface KickBody {
  code: number;
  reason: string;
}

export function encodeControl(value: ClientHello | ServerHello | ErrorBody | KickBody): Uint8Array {
  return jsonCodec.encode(value);
}

/** Decode a JSON control body and check that it is an object holding `fields` as numbers. */
export function decodeControl<T>(body: Uint8Array, fields: readonly string[]): T {
  let value: unknown;
  try {
    value = jsonCodec.decode(body);
  } catch {
    throw new ProtocolError("bad-handshake", "control message body is not UTF-8 JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ProtocolError("bad-handshake", "control message body must be a JSON object");
  }
  const record = value as Record<string, unknown>;
  for (const field of fields) {
    if (typeof record[field] !== "number") {
      throw new ProtocolError("bad-handshake", `control message field "${field}" must be a number`);
    }
  }
  return value as T;
}
