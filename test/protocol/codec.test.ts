// Payload codecs, command/push declarations and control bodies.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  CODEC_NAMES,
  codecByName,
  command,
  decodeControl,
  encodeControl,
  jsonCodec,
  msgpackCodec,
  ProtocolError,
  push,
  rawCodec,
  U32_MAX,
  type PayloadCodec,
} from "../../src/protocol/index.ts";

const CODECS: readonly PayloadCodec[] = [rawCodec, jsonCodec, msgpackCodec];
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, "hex"));

/**
 * Values both JSON and msgpack carry exactly. Left out on purpose: -0 (both codecs write 0),
 * and "__proto__" keys (msgpackr renames them; see the prototype-pollution test below).
 */
const { value: plainValue } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", maxDepth: 4 },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Object.is(d, -0)),
    fc.string({ unit: "grapheme" }),
    fc.array(tie("value"), { maxLength: 5 }),
    fc.dictionary(
      fc.string({ unit: "grapheme" }).filter((k) => k !== "__proto__"),
      tie("value"),
      { maxKeys: 5, noNullPrototype: true },
    ),
  ),
}));

test("codec registry: names and lookup", () => {
  assert.deepEqual(CODEC_NAMES, ["raw", "json", "msgpack"]);
  assert.equal(codecByName("raw"), rawCodec);
  assert.equal(codecByName("json"), jsonCodec);
  assert.equal(codecByName("msgpack"), msgpackCodec);
  for (const name of CODEC_NAMES) assert.equal(codecByName(name).name, name);
});

test("every codec: undefined encodes to an empty body, and an empty body decodes to undefined", () => {
  for (const codec of CODECS) {
    assert.equal(codec.encode(undefined).length, 0, `${codec.name} encode(undefined)`);
    assert.equal(codec.decode(new Uint8Array(0)), undefined, `${codec.name} decode(empty)`);
    // An empty view into a larger buffer is empty too.
    assert.equal(codec.decode(new Uint8Array(8).subarray(3, 3)), undefined, `${codec.name} decode(empty view)`);
  }
});

test("every codec: null is not confused with undefined, except raw which has no null", () => {
  assert.equal(jsonCodec.decode(jsonCodec.encode(null)), null);
  assert.equal(msgpackCodec.decode(msgpackCodec.encode(null)), null);
  assert.ok(jsonCodec.encode(null).length > 0);
  assert.ok(msgpackCodec.encode(null).length > 0);
  assert.equal(rawCodec.encode(null).length, 0);
});

test("raw codec: bytes pass through unchanged in both directions", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (bytes) => {
      const encoded = rawCodec.encode(bytes);
      assert.deepEqual(encoded, bytes);
      assert.deepEqual(rawCodec.decode(encoded), bytes);
    }),
    { numRuns: 200 },
  );
  // A Buffer is a Uint8Array and is accepted as is.
  const buf = Buffer.from("abc");
  assert.equal(hexOf(rawCodec.encode(buf)), "616263");
});

test("raw codec: encoding anything but a Uint8Array is a TypeError", () => {
  for (const value of ["abc", 42, 0, true, {}, [1, 2], new ArrayBuffer(2), new DataView(new ArrayBuffer(2)), new Uint16Array(2), () => 1]) {
    assert.throws(() => rawCodec.encode(value), TypeError, `value ${Object.prototype.toString.call(value)}`);
  }
});

test("json codec: round-trips plain values, byte-exact UTF-8 JSON on the wire", () => {
  assert.equal(hexOf(jsonCodec.encode({ a: "é" })), Buffer.from('{"a":"é"}', "utf8").toString("hex"));
  assert.deepEqual(jsonCodec.decode(utf8('{"x":[1,2,{"y":null}],"z":"☃"}')), { x: [1, 2, { y: null }], z: "☃" });
  fc.assert(
    fc.property(plainValue, (value) => {
      assert.deepEqual(jsonCodec.decode(jsonCodec.encode(value)), value);
    }),
    { numRuns: 500 },
  );
});

test("json codec: strings with lone surrogates survive (JSON escapes them)", () => {
  fc.assert(
    fc.property(fc.string({ unit: "binary" }), (s) => {
      assert.equal(jsonCodec.decode(jsonCodec.encode(s)), s);
    }),
    { numRuns: 300 },
  );
});

test("json codec: invalid UTF-8 throws", () => {
  // stray continuation byte, 0xff, overlong "/", truncated 2-byte sequence, UTF-8-encoded surrogate
  for (const h of ["80", "ff", "22c0af22", "22c3", "22eda08022"]) {
    assert.throws(() => jsonCodec.decode(fromHex(h)), TypeError, h);
  }
});

test("json codec: invalid JSON throws SyntaxError", () => {
  for (const text of ["{", "}", "undefined", "NaN", "{'a':1}", "[1,]", "1 2", "\u0000"]) {
    assert.throws(() => jsonCodec.decode(utf8(text)), SyntaxError, JSON.stringify(text));
  }
});

test("msgpack codec: round-trips plain values", () => {
  fc.assert(
    fc.property(plainValue, (value) => {
      assert.deepEqual(msgpackCodec.decode(msgpackCodec.encode(value)), value);
    }),
    { numRuns: 500 },
  );
});

test("msgpack codec: byte-exact standard msgpack (maps as maps, no records extension)", () => {
  // map(1) { fixstr "a": 1 }, as fixmap or map16; repeated in an array, a records-enabled
  // packer would write a structure reference for the second object instead of a map.
  const map = "(81|de0001)";
  assert.match(hexOf(msgpackCodec.encode({ a: 1 })), new RegExp(`^${map}a16101$`));
  assert.match(hexOf(msgpackCodec.encode([{ a: 1 }, { a: 2 }])), new RegExp(`^92${map}a16101${map}a16102$`));
  assert.equal(hexOf(msgpackCodec.encode(null)), "c0");
  // Decoding standard msgpack written by another library gives plain objects.
  const decoded = msgpackCodec.decode(fromHex("82a178cd0100a17993c3c2c0"));
  assert.deepEqual(decoded, { x: 256, y: [true, false, null] });
  assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
});

test("msgpack codec: binary values come back with the same bytes", () => {
  const decoded = msgpackCodec.decode(msgpackCodec.encode({ b: new Uint8Array([0, 1, 255]) })) as { b: unknown };
  assert.ok(decoded.b instanceof Uint8Array);
  assert.equal(hexOf(decoded.b), "0001ff");
});

test("msgpack codec: truncated input, trailing bytes and huge declared lengths throw", () => {
  for (const h of [
    "91", // array of 1, no element
    "a3 6162".replace(/ /g, ""), // str of 3, 2 bytes
    "dd ffffffff".replace(/ /g, ""), // array32 of 2^32-1 elements, none present
    "db ffffffff".replace(/ /g, ""), // str32 of 4 GiB
    "c6 ffffffff".replace(/ /g, ""), // bin32 of 4 GiB
    "de ffff".replace(/ /g, ""), // map16 of 65535 entries
    "0102", // two values where one is expected
  ]) {
    assert.throws(() => msgpackCodec.decode(fromHex(h)), Error, h);
  }
});

test("msgpack codec: decoding arbitrary garbage either returns a value or throws an Error; it never hangs", () => {
  // msgpackr returns rather than throws for some malformed input (e.g. the never-used byte
  // 0xc1 decodes to a marker object), so callers must not rely on a throw for every bad body:
  // a command's validator is what rejects such values.
  const started = Date.now();
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (bytes) => {
      try {
        msgpackCodec.decode(bytes);
      } catch (err) {
        assert.ok(err instanceof Error, `threw a non-Error: ${String(err)}`);
      }
    }),
    { numRuns: 2000 },
  );
  assert.ok(Date.now() - started < 5000, "garbage decoding took too long");
});

test("json and msgpack: '__proto__' keys cannot pollute prototypes", () => {
  const fromJson = jsonCodec.decode(utf8('{"__proto__":{"polluted":1}}'));
  // map { "__proto__": { "polluted": 1 } }
  const fromMsgpack = msgpackCodec.decode(fromHex("81a95f5f70726f746f5f5f81a8706f6c6c75746564 01".replace(/ /g, "")));
  for (const value of [fromJson, fromMsgpack]) {
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
    assert.equal((value as { polluted?: unknown }).polluted, undefined);
  }
  assert.equal(({} as { polluted?: unknown }).polluted, undefined);
});

test("command() and push() accept u32 ids and reject anything else with RangeError", () => {
  for (const id of [0, 1, 0x7fff_ffff, U32_MAX]) {
    assert.equal(command(id).id, id);
    assert.equal(push(id).id, id);
  }
  for (const id of [-1, 2 ** 32, 1.5, -0.5, Number.NaN, Number.POSITIVE_INFINITY, Number.MAX_SAFE_INTEGER]) {
    assert.throws(() => command(id), RangeError, `command(${id})`);
    assert.throws(() => push(id), RangeError, `push(${id})`);
  }
});

test("command() and push(): names default from the id, options are kept", () => {
  const validate = (v: unknown): v is string => typeof v === "string";
  const c = command<string, number>(12, { name: "echo", codec: "msgpack", validate });
  assert.deepEqual({ ...c }, { kind: "command", id: 12, name: "echo", codec: "msgpack", validate });
  assert.deepEqual({ ...command(13) }, { kind: "command", id: 13, name: "command 13", codec: undefined, validate: undefined });
  assert.deepEqual({ ...push(14) }, { kind: "push", id: 14, name: "push 14", codec: undefined, validate: undefined });
  assert.equal(push(15, { codec: "raw" }).codec, "raw");
});

test("control bodies: encoded as JSON whatever the codec, checked on decode", () => {
  const body = encodeControl({ code: 3, reason: "bye" });
  assert.equal(Buffer.from(body).toString("utf8"), '{"code":3,"reason":"bye"}');
  assert.deepEqual(decodeControl(body, ["code"]), { code: 3, reason: "bye" });
  const bad = (b: Uint8Array, fields: readonly string[]): void => {
    assert.throws(
      () => decodeControl(b, fields),
      (err: unknown) => err instanceof ProtocolError && err.reason === "bad-handshake",
    );
  };
  bad(fromHex("ff"), []); // not UTF-8
  bad(utf8("{"), []); // not JSON
  bad(new Uint8Array(0), []); // empty: undefined is not an object
  bad(utf8("[1]"), []); // array
  bad(utf8("null"), []);
  bad(utf8("3"), []);
  bad(utf8('{"protocol":"1"}'), ["protocol"]); // string, not number
  bad(utf8("{}"), ["protocol"]); // missing
});

function hexOf(value: unknown): string {
  assert.ok(value instanceof Uint8Array);
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex");
}
