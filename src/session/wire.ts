/**
 * Bodies of the session channels between nodes (docs/protocol.md, "Session channels"):
 *
 * Fanout (notify; towards one gateway, or every gateway):
 *   0      u8      kind      0 sessions, 1 channel, 2 scene, 3 gateway, 4 everyone
 *   1      u16 BE  T         bytes of the target
 *   3      T       target    gateway name (kinds 0, 3), channel (1), scene (2), empty (4); UTF-8
 *   3+T    u32 BE  command   the push's command id
 *   7+T    u32 BE  count     kind 0 only: how many session ids follow
 *   11+T   4×count ids       kind 0 only: session ids on that gateway
 *   ...            payload   the push's body, encoded once by the sender
 *
 * SessionOp (request; towards the session's gateway):
 *   0      u16 BE  G         bytes of the gateway's name
 *   2      G       gateway   UTF-8
 *   2+G    u32 BE  session   session id
 *   6+G    ...     op        UTF-8 JSON {@link SessionOp}
 */
import { readU32, writeU32 } from "../protocol/index.ts";

export const FanoutKind = { Sessions: 0, Channel: 1, Scene: 2, Gateway: 3, Everyone: 4 } as const;
export type FanoutKind = (typeof FanoutKind)[keyof typeof FanoutKind];

export interface Fanout {
  kind: FanoutKind;
  target: string;
  command: number;
  ids: readonly number[];
  payload: Uint8Array;
}

/** What a node asks of a session's gateway. */
export type SessionOp =
  | { op: "move"; scene: string; extra?: unknown }
  | { op: "join"; channel: string }
  | { op: "leave"; channel: string }
  | { op: "set"; key: string; value?: unknown }
  | { op: "kick"; reason: string };

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });
const OPS = new Set(["move", "join", "leave", "set", "kick"]);

/** Whether a fan-out goes to one gateway (named by its target) rather than to all of them. */
export function isDirected(kind: FanoutKind): boolean {
  return kind === FanoutKind.Sessions || kind === FanoutKind.Gateway;
}

export function encodeFanout(kind: FanoutKind, target: string, command: number, ids: readonly number[], payload: Uint8Array): Uint8Array {
  const name = utf8.encode(target);
  if (name.length > 0xffff) throw new RangeError("a fan-out target above 65535 bytes");
  const idBytes = kind === FanoutKind.Sessions ? 4 + 4 * ids.length : 0;
  const body = new Uint8Array(7 + name.length + idBytes + payload.length);
  body[0] = kind;
  body[1] = name.length >>> 8;
  body[2] = name.length & 0xff;
  body.set(name, 3);
  let at = 3 + name.length;
  writeU32(body, at, command);
  at += 4;
  if (kind === FanoutKind.Sessions) {
    writeU32(body, at, ids.length);
    at += 4;
    for (const id of ids) {
      writeU32(body, at, id);
      at += 4;
    }
  }
  body.set(payload, at);
  return body;
}

/** Throws RangeError naming what is wrong (a peer bug; the caller logs and drops it). */
export function decodeFanout(body: Uint8Array): Fanout {
  if (body.length < 7) throw new RangeError(`a fan-out body of ${body.length} bytes is shorter than its header`);
  const kind = body[0]!;
  if (kind > FanoutKind.Everyone) throw new RangeError(`unknown fan-out kind ${kind}`);
  const nameLength = (body[1]! << 8) | body[2]!;
  let at = 3 + nameLength;
  if (body.length < at + 4) throw new RangeError("a fan-out body's target is cut short");
  const target = utf8Decoder.decode(body.subarray(3, at));
  const command = readU32(body, at);
  at += 4;
  const ids: number[] = [];
  if (kind === FanoutKind.Sessions) {
    if (body.length < at + 4) throw new RangeError("a fan-out body's session count is cut short");
    const count = readU32(body, at);
    at += 4;
    if (body.length < at + 4 * count) throw new RangeError(`a fan-out body announces ${count} sessions and holds fewer`);
    for (let i = 0; i < count; i++, at += 4) ids.push(readU32(body, at));
  }
  return { kind: kind as FanoutKind, target, command, ids, payload: body.subarray(at) };
}

export function encodeSessionOp(gateway: string, session: number, op: SessionOp): Uint8Array {
  const name = utf8.encode(gateway);
  const json = utf8.encode(JSON.stringify(op));
  const body = new Uint8Array(6 + name.length + json.length);
  body[0] = name.length >>> 8;
  body[1] = name.length & 0xff;
  body.set(name, 2);
  writeU32(body, 2 + name.length, session);
  body.set(json, 6 + name.length);
  return body;
}

export function decodeSessionOp(body: Uint8Array): { gateway: string; session: number; op: SessionOp } {
  if (body.length < 6) throw new RangeError("a session-op body is shorter than its header");
  const nameLength = (body[0]! << 8) | body[1]!;
  if (body.length < 6 + nameLength) throw new RangeError("a session-op body's gateway is cut short");
  const gateway = utf8Decoder.decode(body.subarray(2, 2 + nameLength));
  const session = readU32(body, 2 + nameLength);
  const op: unknown = JSON.parse(utf8Decoder.decode(body.subarray(6 + nameLength)));
  if (typeof op !== "object" || op === null || !OPS.has((op as { op?: unknown }).op as string)) throw new RangeError("a session-op body holds no known op");
  return { gateway, session, op: op as SessionOp };
}

/** The gateway a session-op body is for. */
export function sessionOpGateway(body: Uint8Array): string {
  if (body.length < 2) throw new RangeError("a session-op body is shorter than its header");
  const nameLength = (body[0]! << 8) | body[1]!;
  if (body.length < 2 + nameLength) throw new RangeError("a session-op body's gateway is cut short");
  return utf8Decoder.decode(body.subarray(2, 2 + nameLength));
}
