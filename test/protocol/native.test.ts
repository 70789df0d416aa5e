// Native frame format, byte-exact: u32 BE length (= 10 + body), u8 type, u8 flags (0),
// u32 BE id, u32 BE command, body. Header 14 bytes.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  DEFAULT_MAX_BODY,
  encodeNative,
  MAX_MESSAGE_TYPE,
  MessageType,
  NATIVE_HEADER_SIZE,
  nativeFormat,
  U32_MAX,
  type Message,
  type ProtocolErrorReason,
} from "../../src/protocol/index.ts";
import { bytes, decode, expectProtocolError, failingByte, hex, plain, pushAll, type Plain } from "./frames.ts";


const u32 = (n: number): string => n.toString(16).padStart(8, "0");
const u8 = (n: number): string => n.toString(16).padStart(2, "0");

/** A 14-byte native header as hex. */
function header(length: number, type: number, flags = 0, id = 0, command = 1): string {
  return u32(length) + u8(type) + u8(flags) + u32(id) + u32(command);
}



const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const ALL_TYPES = Object.values(MessageType);

test("native: format metadata and message type values", () => {
  const f = nativeFormat();
  assert.equal(NATIVE_HEADER_SIZE, 14);
  assert.equal(f.headerSize, 14);
  assert.equal(f.name, "native");
  assert.equal(f.hasControlMessages, true);
  assert.equal(f.maxBody, DEFAULT_MAX_BODY);
  assert.equal(nativeFormat({ maxBody: 16 }).maxBody, 16);
  assert.deepEqual(MessageType, {
    Handshake: 1,
    Heartbeat: 2,
    Request: 3,
    Response: 4,
    Error: 5,
    Notify: 6,
    Push: 7,
    Kick: 8,
  });
  assert.equal(MAX_MESSAGE_TYPE, 8);
});

test("native encode: byte-exact frame", () => {
  const m: Message = { type: MessageType.Request, id: 0x01020304, command: 0xa0b0c0d0, body: utf8("hi") };
  // length 12 (10 + 2), type 03, flags 00, id, command, body
  const expected = "0000000c" + "03" + "00" + "01020304" + "a0b0c0d0" + "6869";
  assert.equal(hex(nativeFormat().encode(m)), expected);
  assert.equal(hex(encodeNative(m)), expected);
});

test("native encode: empty body gives length 10 and a 14-byte frame", () => {
  const frame = nativeFormat().encode({ type: MessageType.Heartbeat, id: 0, command: 0, body: new Uint8Array(0) });
  assert.equal(hex(frame), "0000000a" + "02" + "00" + "00000000" + "00000000");
});

test("native encode: every message type is carried (no nulls), type byte at offset 4", () => {
  const f = nativeFormat();
  for (const type of ALL_TYPES) {
    const frame = f.encode({ type, id: 5, command: 6, body: new Uint8Array([0xee]) });
    assert.equal(hex(frame), "0000000b" + u8(type) + "00" + "00000005" + "00000006" + "ee", `type ${type}`);
  }
});

test("native encode: max u32 id and command are written as ffffffff and round-trip", () => {
  const f = nativeFormat();
  const m: Message = { type: MessageType.Response, id: U32_MAX, command: U32_MAX, body: new Uint8Array([1, 2]) };
  const frame = f.encode(m)!;
  assert.equal(hex(frame), "0000000c" + "04" + "00" + "ffffffff" + "ffffffff" + "0102");
  assert.deepEqual(decode(f, frame), [{ type: 4, id: U32_MAX, command: U32_MAX, body: "0102" }]);
});

test("native encode: body up to maxBody is accepted, one byte more is a RangeError", () => {
  const f = nativeFormat({ maxBody: 16 });
  const m = (n: number): Message => ({ type: MessageType.Push, id: 0, command: 1, body: new Uint8Array(n) });
  assert.equal(f.encode(m(16))?.length, 14 + 16);
  assert.throws(() => f.encode(m(17)), RangeError);
  assert.throws(() => encodeNative(m(17), 16), RangeError);
  assert.throws(() => encodeNative(m(DEFAULT_MAX_BODY + 1)), RangeError);
});

test("native decode: hand-written frame of every message type", () => {
  for (const type of ALL_TYPES) {
    const frame = bytes(header(10 + 3, type, 0, 0x11223344, 0x55667788) + "616263");
    assert.deepEqual(decode(nativeFormat(), frame), [{ type, id: 0x11223344, command: 0x55667788, body: "616263" }], `type ${type}`);
  }
});

test("native decode: length 10 is a valid frame with an empty body, delivered as soon as the header is in", () => {
  const decoder = nativeFormat().createDecoder();
  assert.deepEqual(pushAll(decoder, bytes(header(10, MessageType.Heartbeat, 0, 0, 0))), [
    { type: 2, id: 0, command: 0, body: "" },
  ]);
  assert.equal(decoder.pendingBytes, 0);
});

test("native decode: several frames in one chunk, then one split byte by byte", () => {
  const f = nativeFormat();
  const frames = [
    f.encode({ type: MessageType.Request, id: 1, command: 10, body: utf8("a") })!,
    f.encode({ type: MessageType.Notify, id: 0, command: 11, body: new Uint8Array(0) })!,
    f.encode({ type: MessageType.Request, id: 2, command: 12, body: utf8("bb") })!,
  ];
  const decoder = f.createDecoder();
  assert.deepEqual(pushAll(decoder, Buffer.concat(frames)), [
    { type: 3, id: 1, command: 10, body: "61" },
    { type: 6, id: 0, command: 11, body: "" },
    { type: 3, id: 2, command: 12, body: "6262" },
  ]);
  const last = frames[2]!;
  const split: Plain[] = [];
  for (let i = 0; i < last.length; i++) {
    decoder.push(last.subarray(i, i + 1), (m) => split.push(plain(m)));
    assert.equal(split.length, i === last.length - 1 ? 1 : 0, `after byte ${i}`);
  }
  assert.deepEqual(split, [{ type: 3, id: 2, command: 12, body: "6262" }]);
});

test("native decode: length 0..9 is bad-length", () => {
  for (let length = 0; length < 10; length++) {
    expectProtocolError(() => decode(nativeFormat(), bytes(header(length, MessageType.Request))), "bad-length");
  }
});

test("native decode: type 0 and 9..255 are bad-type", () => {
  for (const type of [0, 9, 10, 0x7f, 0x80, 0xff]) {
    expectProtocolError(() => decode(nativeFormat(), bytes(header(10, type))), "bad-type");
  }
});

test("native decode: any non-zero flags byte is bad-flags", () => {
  for (const flags of [1, 2, 0x40, 0x80, 0xff]) {
    expectProtocolError(() => decode(nativeFormat(), bytes(header(10, MessageType.Request, flags))), "bad-flags");
  }
});

test("native decode: maxBody 16 accepts a 16-byte body and rejects 17 from the header alone", () => {
  const f = nativeFormat({ maxBody: 16 });
  assert.deepEqual(decode(f, bytes(header(10 + 16, MessageType.Push, 0, 0, 3) + "cd".repeat(16))), [
    { type: 7, id: 0, command: 3, body: "cd".repeat(16) },
  ]);
  expectProtocolError(() => decode(f, bytes(header(10 + 17, MessageType.Push))), "frame-too-large");
});

test("native decode: default limit is 1 MiB: exactly 1 MiB is accepted, 1 MiB + 1 is rejected at the header", () => {
  const decoder = nativeFormat().createDecoder();
  assert.deepEqual(pushAll(decoder, bytes(header(10 + DEFAULT_MAX_BODY, MessageType.Request, 0, 1, 2))), []);
  assert.equal(decoder.pendingBytes, 14);
  const got: Message[] = [];
  decoder.push(new Uint8Array(DEFAULT_MAX_BODY).fill(7), (m) => got.push(m));
  assert.equal(got.length, 1);
  assert.equal(got[0]!.body.length, DEFAULT_MAX_BODY);
  assert.ok(got[0]!.body.every((b) => b === 7));
  assert.equal(decoder.pendingBytes, 0);

  expectProtocolError(() => decode(nativeFormat(), bytes(header(10 + DEFAULT_MAX_BODY + 1, MessageType.Request))), "frame-too-large");
});

test("native decode: length 0xffffffff throws frame-too-large at the header, without waiting", () => {
  expectProtocolError(() => decode(nativeFormat(), bytes(header(0xffff_ffff, MessageType.Request))), "frame-too-large");
});

test("native decode: a bad header fed byte by byte is reported by its last byte at the latest", () => {
  const cases: [string, ProtocolErrorReason][] = [
    [header(9, MessageType.Request), "bad-length"],
    [header(10, 0), "bad-type"],
    [header(10, MessageType.Request, 1), "bad-flags"],
    [header(0xffff_ffff, MessageType.Request), "frame-too-large"],
  ];
  for (const [frameHex, reason] of cases) {
    const failedAt = failingByte(nativeFormat(), bytes(frameHex), reason);
    assert.ok(failedAt >= 0 && failedAt < 14, `${reason}: failed at byte ${failedAt}`);
  }
});

test("native decode: after an error the decoder keeps throwing the same error", () => {
  const f = nativeFormat();
  const decoder = f.createDecoder();
  const first = expectProtocolError(() => pushAll(decoder, bytes(header(10, 9))), "bad-type");
  const valid = f.encode({ type: MessageType.Request, id: 1, command: 1, body: utf8("x") })!;
  for (const chunk of [valid, new Uint8Array(0), valid.subarray(0, 5)]) {
    const delivered: Message[] = [];
    const again = expectProtocolError(() => decoder.push(chunk, (m) => delivered.push(m)), "bad-type");
    assert.equal(again.message, first.message);
    assert.deepEqual(delivered, []);
  }
});

test("native decode: decodes frames that sit at a non-zero offset of a larger buffer", () => {
  const f = nativeFormat();
  const frame = f.encode({ type: MessageType.Response, id: 9, command: 8, body: utf8("zz") })!;
  const big = new Uint8Array(7 + frame.length + 5).fill(0xaa);
  big.set(frame, 7);
  const view = big.subarray(7, 7 + frame.length);
  assert.deepEqual(decode(f, view), [{ type: 4, id: 9, command: 8, body: "7a7a" }]);
});
