/** Helpers shared by the frame-format tests: hex views of frames and decoded messages. */
import assert from "node:assert/strict";
import { ProtocolError, type FrameDecoder, type FrameFormat, type Message, type ProtocolErrorReason } from "../../src/protocol/index.ts";

export function hex(bytes: Uint8Array): string;
export function hex(bytes: Uint8Array | null): string | null;
export function hex(bytes: Uint8Array | null): string | null {
  return bytes === null ? null : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

export function bytes(hexString: string): Uint8Array {
  return new Uint8Array(Buffer.from(hexString.replace(/\s+/g, ""), "hex"));
}

/** A message with its body as hex, for deepEqual. */
export interface Plain {
  type: number;
  id: number;
  command: number;
  body: string;
}

export function plain(m: Message): Plain {
  return { type: m.type, id: m.id, command: m.command, body: hex(m.body) };
}

export function pushAll(decoder: FrameDecoder, ...chunks: Uint8Array[]): Plain[] {
  const out: Plain[] = [];
  for (const chunk of chunks) decoder.push(chunk, (m) => out.push(plain(m)));
  return out;
}

export function decode(format: FrameFormat, ...chunks: Uint8Array[]): Plain[] {
  return pushAll(format.createDecoder(), ...chunks);
}

/** Asserts that `fn` throws a ProtocolError with `reason`, and returns it. */
export function expectProtocolError(fn: () => unknown, reason: ProtocolErrorReason): ProtocolError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ProtocolError, `expected ProtocolError(${reason}), got ${String(caught)}`);
  assert.equal(caught.reason, reason);
  return caught;
}

/**
 * Feed `frame` one byte at a time to a fresh decoder of `format`; asserts that it fails with
 * `reason` and returns the index of the byte that made it fail.
 */
export function failingByte(format: FrameFormat, frame: Uint8Array, reason: ProtocolErrorReason): number {
  const decoder = format.createDecoder();
  for (let i = 0; i < frame.length; i++) {
    try {
      pushAll(decoder, frame.subarray(i, i + 1));
    } catch (err) {
      assert.ok(err instanceof ProtocolError);
      assert.equal(err.reason, reason);
      return i;
    }
  }
  return -1;
}
