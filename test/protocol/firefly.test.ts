// Firefly frame format, byte-exact against hand-written frames (firefly/netconnect/datapack.py):
// 4 magic bytes, u8 protocol version, u32 server version, u32 length (= body + 4), u32 command.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  DEFAULT_MAX_BODY,
  encodeControl,
  ErrorCode,
  FIREFLY_HEADER_SIZE,
  fireflyFormat,
  MessageType,
  type Message,
  type ProtocolErrorReason,
} from "../../src/protocol/index.ts";
import { bytes, decode, expectProtocolError, failingByte, hex, plain, pushAll, type Plain } from "./frames.ts";

const CUSTOM = { magic: [78, 37, 38, 48], protocolVersion: 9, serverVersion: 0x01020304 } as const;
/** The 9 bytes every CUSTOM frame starts with: magic 4e 25 26 30, version 09, server version 01020304. */
const CUSTOM_PREFIX = "4e252630" + "09" + "01020304";
const DEFAULT_PREFIX = "00000000" + "00" + "00000000";


/** A 17-byte firefly header as hex: prefix (magic + versions), u32 length, u32 command. */
function header(prefix: string, length: number, command = 1): string {
  return prefix + length.toString(16).padStart(8, "0") + command.toString(16).padStart(8, "0");
}



const msg = (type: MessageType, command: number, body: Uint8Array, id = 0): Message => ({ type, id, command, body });
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

test("firefly: format metadata", () => {
  const f = fireflyFormat();
  assert.equal(FIREFLY_HEADER_SIZE, 17);
  assert.equal(f.headerSize, 17);
  assert.equal(f.name, "firefly");
  assert.equal(f.hasControlMessages, false);
  assert.equal(f.maxBody, DEFAULT_MAX_BODY);
  assert.equal(DEFAULT_MAX_BODY, 1024 * 1024);
  assert.equal(fireflyFormat({ maxBody: 16 }).maxBody, 16);
});

test("firefly encode: default all-zero magic, byte-exact", () => {
  const frame = fireflyFormat().encode(msg(MessageType.Response, 7, utf8("hi"), 99));
  // magic 00000000, pv 00, sv 00000000, length 6 (2 + 4), command 7, body "hi". The id is not on the wire.
  assert.equal(hex(frame), "00000000" + "00" + "00000000" + "00000006" + "00000007" + "6869");
});

test("firefly encode: custom magic [78,37,38,48], protocol 9, server 0x01020304, byte-exact", () => {
  const frame = fireflyFormat(CUSTOM).encode(msg(MessageType.Push, 0xdeadbeef, utf8("abc")));
  assert.equal(hex(frame), "4e252630" + "09" + "01020304" + "00000007" + "deadbeef" + "616263");
});

test("firefly encode: empty body has length field 4 and a 17-byte frame", () => {
  const frame = fireflyFormat().encode(msg(MessageType.Response, 42, new Uint8Array(0)));
  assert.equal(hex(frame), "00000000" + "00" + "00000000" + "00000004" + "0000002a");
  assert.equal(frame?.length, 17);
});

test("firefly encode: Request, Response and Push produce the same bytes (no type on the wire)", () => {
  const f = fireflyFormat(CUSTOM);
  const body = utf8("xyz");
  const expected = CUSTOM_PREFIX + "00000007" + "00000010" + "78797a";
  for (const type of [MessageType.Request, MessageType.Response, MessageType.Push]) {
    assert.equal(hex(f.encode(msg(type, 16, body, 5))), expected, `type ${type}`);
  }
});

test("firefly encode: the largest u32 command id is written as ffffffff", () => {
  const frame = fireflyFormat().encode(msg(MessageType.Response, 0xffff_ffff, new Uint8Array([1])));
  assert.equal(hex(frame), DEFAULT_PREFIX + "00000005" + "ffffffff" + "01");
});

test("firefly encode: body up to maxBody is accepted, one byte more is a RangeError", () => {
  const f = fireflyFormat({ maxBody: 16 });
  assert.equal(f.encode(msg(MessageType.Response, 1, new Uint8Array(16)))?.length, 17 + 16);
  assert.throws(() => f.encode(msg(MessageType.Response, 1, new Uint8Array(17))), RangeError);
});

test("firefly encode: an Error reply is a frame under its command id by default", () => {
  const body = encodeControl({ code: ErrorCode.UnknownCommand, message: "no" });
  const frame = fireflyFormat(CUSTOM).encode(msg(MessageType.Error, 0x0102, body, 77));
  const length = (body.length + 4).toString(16).padStart(8, "0");
  assert.equal(hex(frame), CUSTOM_PREFIX + length + "00000102" + hex(body));
  // The body is the JSON {code, message} the handler's error produced.
  assert.deepEqual(JSON.parse(Buffer.from(frame!.subarray(17)).toString("utf8")), { code: 1, message: "no" });
  // Same result with errors: "reply" given explicitly.
  assert.equal(hex(fireflyFormat({ ...CUSTOM, errors: "reply" }).encode(msg(MessageType.Error, 0x0102, body))), hex(frame));
});

test('firefly encode: with errors: "drop" an Error reply encodes to null', () => {
  const f = fireflyFormat({ errors: "drop" });
  assert.equal(f.encode(msg(MessageType.Error, 3, utf8('{"code":1,"message":"x"}'))), null);
  // Ordinary replies are still carried.
  assert.notEqual(f.encode(msg(MessageType.Response, 3, utf8("ok"))), null);
});

test("firefly encode: Heartbeat, Kick and Handshake have no firefly frame (null)", () => {
  for (const f of [fireflyFormat(), fireflyFormat({ errors: "drop" }), fireflyFormat(CUSTOM)]) {
    for (const type of [MessageType.Heartbeat, MessageType.Kick, MessageType.Handshake]) {
      assert.equal(f.encode(msg(type, 1, utf8("{}"))), null, `type ${type}`);
    }
  }
});

test("firefly options: out-of-range magic, protocol version or server version are RangeErrors", () => {
  assert.throws(() => fireflyFormat({ magic: [0, 0, 0, 256] }), RangeError);
  assert.throws(() => fireflyFormat({ magic: [-1, 0, 0, 0] }), RangeError);
  assert.throws(() => fireflyFormat({ magic: [1.5, 0, 0, 0] }), RangeError);
  assert.throws(() => fireflyFormat({ magic: [1, 2, 3] as unknown as [number, number, number, number] }), RangeError);
  assert.throws(() => fireflyFormat({ protocolVersion: 256 }), RangeError);
  assert.throws(() => fireflyFormat({ protocolVersion: -1 }), RangeError);
  assert.throws(() => fireflyFormat({ serverVersion: 2 ** 32 }), RangeError);
  assert.throws(() => fireflyFormat({ serverVersion: -1 }), RangeError);
  // Edges are accepted.
  assert.doesNotThrow(() => fireflyFormat({ magic: [255, 255, 255, 255], protocolVersion: 255, serverVersion: 0xffff_ffff }));
});

test("firefly decode: hand-written default frame gives a Request with id 0", () => {
  const out = decode(fireflyFormat(), bytes(DEFAULT_PREFIX + "00000006" + "00000007" + "6869"));
  assert.deepEqual(out, [{ type: MessageType.Request, id: 0, command: 7, body: "6869" }]);
  assert.equal(MessageType.Request, 3);
});

test("firefly decode: hand-written custom-magic frame", () => {
  const out = decode(fireflyFormat(CUSTOM), bytes(CUSTOM_PREFIX + "00000007" + "deadbeef" + "616263"));
  assert.deepEqual(out, [{ type: 3, id: 0, command: 0xdeadbeef, body: "616263" }]);
});

test("firefly decode: length 4 is a valid frame with an empty body, delivered as soon as the header is in", () => {
  const decoder = fireflyFormat().createDecoder();
  const out = pushAll(decoder, bytes(header(DEFAULT_PREFIX, 4, 42)));
  assert.deepEqual(out, [{ type: 3, id: 0, command: 42, body: "" }]);
  assert.equal(decoder.pendingBytes, 0);
});

test("firefly decode: several frames in one chunk, then a frame split byte by byte", () => {
  const f = fireflyFormat(CUSTOM);
  const a = f.encode(msg(MessageType.Request, 1, utf8("a")))!;
  const b = f.encode(msg(MessageType.Request, 2, new Uint8Array(0)))!;
  const c = f.encode(msg(MessageType.Request, 3, utf8("ccc")))!;
  const decoder = f.createDecoder();
  const out = pushAll(decoder, Buffer.concat([a, b, c]));
  assert.deepEqual(
    out.map((m) => [m.command, m.body]),
    [
      [1, "61"],
      [2, ""],
      [3, "636363"],
    ],
  );
  const split: Plain[] = [];
  for (let i = 0; i < c.length; i++) {
    decoder.push(c.subarray(i, i + 1), (m) => split.push(plain(m)));
    assert.equal(split.length, i === c.length - 1 ? 1 : 0, `after byte ${i}`);
  }
  assert.deepEqual(split, [{ type: 3, id: 0, command: 3, body: "636363" }]);
});

test("firefly decode: each wrong magic byte is bad-magic", () => {
  const good = bytes(CUSTOM_PREFIX + "00000005" + "00000001" + "ff");
  assert.equal(decode(fireflyFormat(CUSTOM), good).length, 1);
  for (let i = 0; i < 4; i++) {
    const bad = good.slice();
    bad[i] = bad[i]! ^ 0x01;
    expectProtocolError(() => decode(fireflyFormat(CUSTOM), bad), "bad-magic");
  }
  // A default (all-zero magic) frame sent to a custom-magic decoder, and the other way round.
  expectProtocolError(() => decode(fireflyFormat(CUSTOM), bytes(header(DEFAULT_PREFIX, 4))), "bad-magic");
  expectProtocolError(() => decode(fireflyFormat(), bytes(header(CUSTOM_PREFIX, 4))), "bad-magic");
});

test("firefly decode: wrong protocol version or server version is bad-version", () => {
  const f = fireflyFormat(CUSTOM);
  // protocol version 08 instead of 09
  expectProtocolError(() => decode(f, bytes(header("4e252630" + "08" + "01020304", 4))), "bad-version");
  // each server version byte off by one
  for (const sv of ["00020304", "01030304", "01020404", "01020305"]) {
    expectProtocolError(() => decode(f, bytes(header("4e252630" + "09" + sv, 4))), "bad-version");
  }
  // the default decoder expects version 0 / 0
  expectProtocolError(() => decode(fireflyFormat(), bytes(header("00000000" + "01" + "00000000", 4))), "bad-version");
  expectProtocolError(() => decode(fireflyFormat(), bytes(header("00000000" + "00" + "00000001", 4))), "bad-version");
});

test("firefly decode: length field 0..3 is bad-length", () => {
  for (let length = 0; length < 4; length++) {
    expectProtocolError(() => decode(fireflyFormat(), bytes(header(DEFAULT_PREFIX, length))), "bad-length");
    expectProtocolError(() => decode(fireflyFormat(CUSTOM), bytes(header(CUSTOM_PREFIX, length))), "bad-length");
  }
});

test("firefly decode: maxBody 16 accepts a 16-byte body and rejects 17 from the header alone", () => {
  const f = fireflyFormat({ maxBody: 16 });
  const out = decode(f, bytes(header(DEFAULT_PREFIX, 4 + 16, 5) + "ab".repeat(16)));
  assert.deepEqual(out, [{ type: 3, id: 0, command: 5, body: "ab".repeat(16) }]);
  expectProtocolError(() => decode(f, bytes(header(DEFAULT_PREFIX, 4 + 17, 5))), "frame-too-large");
});

test("firefly decode: default limit is 1 MiB: exactly 1 MiB is accepted, 1 MiB + 1 is rejected at the header", () => {
  const f = fireflyFormat();
  const decoder = f.createDecoder();
  // Header alone: no error, the decoder waits for the body.
  assert.deepEqual(pushAll(decoder, bytes(header(DEFAULT_PREFIX, DEFAULT_MAX_BODY + 4, 9))), []);
  assert.equal(decoder.pendingBytes, 17);
  const body = new Uint8Array(DEFAULT_MAX_BODY).fill(0x5a);
  const got: Message[] = [];
  decoder.push(body, (m) => got.push(m));
  assert.equal(got.length, 1);
  assert.equal(got[0]!.command, 9);
  assert.equal(got[0]!.body.length, DEFAULT_MAX_BODY);
  assert.ok(got[0]!.body.every((b) => b === 0x5a));
  assert.equal(decoder.pendingBytes, 0);

  expectProtocolError(() => decode(f, bytes(header(DEFAULT_PREFIX, DEFAULT_MAX_BODY + 5, 9))), "frame-too-large");
});

test("firefly decode: a huge length (0xffffffff) throws frame-too-large at the header, without waiting", () => {
  const decoder = fireflyFormat().createDecoder();
  expectProtocolError(() => pushAll(decoder, bytes(header(DEFAULT_PREFIX, 0xffff_ffff))), "frame-too-large");
});

test("firefly decode: a bad header fed byte by byte is reported by its last byte at the latest", () => {
  const cases: [string, ProtocolErrorReason][] = [
    [header("01000000" + "00" + "00000000", 4), "bad-magic"],
    [header(DEFAULT_PREFIX.slice(0, 8) + "07" + "00000000", 4), "bad-version"],
    [header(DEFAULT_PREFIX, 3), "bad-length"],
    [header(DEFAULT_PREFIX, 0xffff_ffff), "frame-too-large"],
  ];
  for (const [frameHex, reason] of cases) {
    const failedAt = failingByte(fireflyFormat(), bytes(frameHex), reason);
    assert.ok(failedAt >= 0 && failedAt < 17, `${reason}: failed at byte ${failedAt}`);
  }
});

test("firefly decode: frames before a bad one are delivered, then the error is thrown", () => {
  const f = fireflyFormat();
  const good = f.encode(msg(MessageType.Request, 11, utf8("ok")))!;
  const out: Plain[] = [];
  expectProtocolError(() => f.createDecoder().push(Buffer.concat([good, bytes(header(DEFAULT_PREFIX, 2))]), (m) => out.push(plain(m))), "bad-length");
  assert.deepEqual(out, [{ type: 3, id: 0, command: 11, body: "6f6b" }]);
});

test("firefly decode: after an error the decoder keeps throwing the same error", () => {
  const f = fireflyFormat();
  const decoder = f.createDecoder();
  const first = expectProtocolError(() => pushAll(decoder, bytes(header("ff000000" + "00" + "00000000", 4))), "bad-magic");
  const valid = f.encode(msg(MessageType.Request, 1, utf8("fine")))!;
  for (const chunk of [valid, new Uint8Array(0), valid.subarray(0, 3)]) {
    const delivered: Message[] = [];
    const again = expectProtocolError(() => decoder.push(chunk, (m) => delivered.push(m)), "bad-magic");
    assert.equal(again.message, first.message);
    assert.deepEqual(delivered, []);
  }
});
