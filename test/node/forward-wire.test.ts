/**
 * Forwarding bodies: what the net node encodes, every other node decodes to the same client,
 * and a malformed body is refused with a reason instead of being half-read.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ByteSlab } from "../../src/index.ts";
import { decodeForwarded, encodeClientWire, encodeForwarded, NameCache, type ClientRef } from "../../src/node/forward-wire.ts";

const client: ClientRef = { net: "net-éu", id: 0xfffffffe, remoteAddress: "[::1]:54321", transport: "ws" };

test("a body decodes to the command, client and payload it was made of", () => {
  const payload = new Uint8Array([1, 2, 3]);
  const body = encodeForwarded(new ByteSlab(), 300, encodeClientWire(client), payload);
  const message = decodeForwarded(body);
  assert.equal(message.command, 300);
  assert.deepEqual(message.client.plain(), client);
  assert.equal(message.client.remoteAddress, client.remoteAddress, "the address, decoded when first read");
  assert.deepEqual([...message.payload], [1, 2, 3]);
  assert.deepEqual([...message.wire], [...encodeClientWire(client)], "the client part can be reused for replies and notices");
});

test("round trip for any client and payload, with and without the name cache", () => {
  const names = new NameCache(2);
  fc.assert(
    fc.property(
      fc.record({
        net: fc.string({ unit: "grapheme", minLength: 1, maxLength: 40 }),
        id: fc.integer({ min: 0, max: 0xffffffff }),
        remoteAddress: fc.string({ unit: "grapheme", maxLength: 60 }),
        transport: fc.constantFrom("tcp" as const, "ws" as const),
      }),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.uint8Array({ maxLength: 100 }),
      (ref, command, payload) => {
        const body = encodeForwarded(new ByteSlab(), command, encodeClientWire(ref), payload);
        for (const decoded of [decodeForwarded(body), decodeForwarded(body, names)]) {
          assert.equal(decoded.command, command);
          assert.deepEqual(decoded.client.plain(), { ...ref });
          assert.deepEqual([...decoded.payload], [...payload]);
        }
      },
    ),
    { numRuns: 500 },
  );
});

test("malformed bodies are refused with a reason", () => {
  const good = encodeForwarded(new ByteSlab(), 1, encodeClientWire({ net: "net", id: 1, remoteAddress: "1.2.3.4:5", transport: "tcp" }), new Uint8Array());
  const cases: [string, Uint8Array, RegExp][] = [
    ["empty", new Uint8Array(), /shorter than its header/],
    ["header only", good.subarray(0, 12), /shorter than its header|cut short/],
    ["unknown transport", Uint8Array.from(good, (b, i) => (i === 8 ? 7 : b)), /unknown transport 7/],
    ["empty net name", Uint8Array.from(good, (b, i) => (i === 9 || i === 10 ? 0 : b)), /net name is empty/],
    ["net name longer than the body", Uint8Array.from(good, (b, i) => (i === 9 ? 0xff : b)), /cut short/],
    ["address longer than the body", Uint8Array.from(good, (b, i) => (i === 14 ? 0xff : b)), /address is cut short/],
  ];
  for (const [what, body, reason] of cases) assert.throws(() => decodeForwarded(body), reason, what);
  // Not UTF-8 in a long name: the strict decoder refuses it rather than inventing characters.
  const wire = encodeClientWire({ net: "n".repeat(100), id: 1, remoteAddress: "", transport: "tcp" });
  wire[7] = 0xff;
  assert.throws(() => decodeForwarded(encodeForwarded(new ByteSlab(), 1, wire, new Uint8Array())), TypeError);
});

test("the name cache returns the same names and forgets the oldest past its limit", () => {
  const names = new NameCache(2);
  const bytes = (text: string) => new TextEncoder().encode(text);
  const a = bytes("xnet1x");
  assert.equal(names.text(a, 1, 5), "net1");
  a[1] = 0x4e; // the cache keeps its own copy: later changes to the read buffer do not leak in
  assert.equal(names.text(bytes("net1"), 0, 4), "net1");
  assert.equal(names.text(bytes("net2"), 0, 4), "net2");
  assert.equal(names.text(bytes("net3"), 0, 4), "net3");
  assert.equal(names.text(bytes("Net1"), 0, 4), "Net1");
});
