/**
 * The bodies inter-node links put in native frames (docs/protocol.md, "Inter-node links").
 * Pure functions, no I/O. Control bodies (Handshake, Error, Kick) are UTF-8 JSON like on client
 * connections; call bodies are msgpack `[serviceName, args]`.
 */
import { codecByName, decodeControl, jsonCodec, KickCode, PROTOCOL_VERSION, ProtocolError, type ErrorBody, type KickBody } from "../protocol/index.ts";
import { RpcError, RpcErrorCode } from "./errors.ts";
import { isValidName, MAX_NODE_NAME, MAX_SERVICE_NAME } from "./names.ts";

/** Version of the link conventions on top of native protocol version 1. */
export const LINK_VERSION = 1;

/** Both ends send one: the connecting end first, the accepting end in answer. */
export interface LinkHello {
  /** Native protocol version: 1. */
  protocol: number;
  /** Link convention version: 1. Its presence marks the peer as a node, not a game client. */
  link: number;
  /** The sender's node name (children are addressed by it). */
  node: string;
  /** Cluster id; both ends must have the same one, or both none. */
  cluster?: string;
  /**
   * Random id of the sending root client, new each time a node starts: the root tells a child
   * that reconnected (same instance, its clients are still there) from one that restarted.
   */
  instance?: string;
  /** The sender sends a Heartbeat after this long without sending anything. */
  heartbeatMs: number;
  /** The sender drops the link after this long without hearing anything. */
  idleTimeoutMs: number;
  /** Largest frame body the sender accepts. */
  maxBodyBytes: number;
  /** Handlers the sender runs at once for this link. */
  maxInFlight: number;
}

const NUMERIC_FIELDS = ["protocol", "link", "heartbeatMs", "idleTimeoutMs", "maxBodyBytes", "maxInFlight"] as const;

/** UTF-8 JSON, like every control body. */
export function encodeHello(hello: LinkHello): Uint8Array {
  return jsonCodec.encode(hello);
}

/** Decode and check a peer's hello. Throws ProtocolError("bad-handshake") naming what is wrong. */
export function decodeHello(body: Uint8Array): LinkHello {
  const hello = decodeControl<LinkHello>(body, NUMERIC_FIELDS);
  const bad = (why: string): never => {
    throw new ProtocolError("bad-handshake", `link handshake: ${why}`);
  };
  if (hello.protocol !== PROTOCOL_VERSION) bad(`protocol version ${hello.protocol} is not supported (this node speaks ${PROTOCOL_VERSION})`);
  if (hello.link !== LINK_VERSION) bad(`link version ${hello.link} is not supported (this node speaks ${LINK_VERSION})`);
  if (!isValidName(hello.node, MAX_NODE_NAME)) bad(`"node" must be a string of 1 to ${MAX_NODE_NAME} printable characters`);
  if (hello.cluster !== undefined && !isValidName(hello.cluster, MAX_NODE_NAME)) bad(`"cluster" must be a string of 1 to ${MAX_NODE_NAME} printable characters`);
  if (hello.instance !== undefined && !isValidName(hello.instance, MAX_NODE_NAME)) bad(`"instance" must be a string of 1 to ${MAX_NODE_NAME} printable characters`);
  for (const field of NUMERIC_FIELDS.slice(2)) {
    const value = hello[field];
    if (!Number.isInteger(value) || value <= 0) bad(`"${field}" must be a positive integer`);
  }
  return hello;
}

const msgpack = codecByName("msgpack");

/** Body of a Request or Notify: msgpack `[serviceName, args]`. */
export function encodeCall(name: string, args: readonly unknown[]): Uint8Array {
  return msgpack.encode([name, args]);
}

export interface DecodedCall {
  name: string;
  args: unknown[];
}

/** Decode a Request/Notify body. Throws an Error (answered as BadPayload) when it is not `[string, array]`. */
export function decodeCall(body: Uint8Array): DecodedCall {
  const value = msgpack.decode(body);
  if (!Array.isArray(value) || value.length !== 2 || !isValidName(value[0], MAX_SERVICE_NAME) || !Array.isArray(value[1])) {
    throw new Error("a call body must be the msgpack array [serviceName, args]");
  }
  return { name: value[0], args: value[1] as unknown[] };
}

/** Body of a Response: msgpack of the result; empty for undefined. */
export function encodeResult(value: unknown): Uint8Array {
  return msgpack.encode(value);
}

export function decodeResult(body: Uint8Array): unknown {
  return msgpack.decode(body);
}

/** Body of an Error frame, as an RpcError marked remote; a malformed one becomes a local BadPayload. */
export function decodeErrorReply(body: Uint8Array, service: string): RpcError {
  try {
    const error = decodeControl<ErrorBody>(body, ["code"]);
    return new RpcError(error.code, typeof error.message === "string" ? error.message : "", true);
  } catch {
    return new RpcError(RpcErrorCode.BadPayload, `${service}: the peer's error reply is not the JSON {"code","message"}`);
  }
}

/** Body of a Kick frame; a malformed one still ends the link. */
export function decodeKick(body: Uint8Array): KickBody {
  try {
    const kick = decodeControl<KickBody>(body, ["code"]);
    return { code: kick.code, reason: typeof kick.reason === "string" ? kick.reason : "" };
  } catch {
    return { code: KickCode.ProtocolError, reason: "(an undecodable kick)" };
  }
}
