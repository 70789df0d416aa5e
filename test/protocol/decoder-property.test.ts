// Property tests of the shared incremental decoder, for both frame formats: any split of a
// valid stream decodes to the same messages; hostile bytes only ever raise ProtocolError and
// never make the decoder hold more than one header + max body.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  DEFAULT_MAX_BODY,
  FIREFLY_HEADER_SIZE,
  fireflyFormat,
  MessageType,
  NATIVE_HEADER_SIZE,
  nativeFormat,
  ProtocolError,
  U32_MAX,
  type FrameDecoder,
  type FrameFormat,
  type Message,
  type ProtocolErrorReason,
} from "../../src/protocol/index.ts";
import { hex, plain, type Plain } from "./frames.ts";

/** Small limit so that hostile input can actually reach it. */
const MAX_BODY = 256;
/** Keeps the whole file well under ten seconds. */
const RUNS = 1000;

const MAGIC = [78, 37, 38, 48] as const;
const PROTOCOL_VERSION = 9;
const SERVER_VERSION = 0x01020304;


function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/**
 * Split `data` at `cuts` (taken modulo length + 1 and sorted). Repeated cuts give empty
 * chunks. Chunks are views into `data`, so most have a non-zero byteOffset.
 */
function split(data: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const positions = cuts.map((c) => c % (data.length + 1)).sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let previous = 0;
  for (const p of positions) {
    chunks.push(data.subarray(previous, p));
    previous = p;
  }
  chunks.push(data.subarray(previous));
  return chunks;
}

function bytewise(data: Uint8Array): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < data.length; i++) chunks.push(data.subarray(i, i + 1));
  return chunks;
}

interface Outcome {
  messages: Plain[];
  /** Reason of the ProtocolError that stopped decoding, or null. */
  error: string | null;
  /** Bytes held at the end (only meaningful without error). */
  pending: number;
}

/**
 * Push every chunk, checking after each push that nothing but ProtocolError escapes, that the
 * decoder holds at most header + maxBody bytes and that no delivered body exceeds maxBody.
 */
function run(format: FrameFormat, chunks: readonly Uint8Array[], stats?: { maxPending: number }): Outcome {
  const decoder: FrameDecoder = format.createDecoder();
  const limit = format.headerSize + format.maxBody;
  const messages: Plain[] = [];
  const sink = (m: Message): void => {
    assert.ok(m.body.length <= format.maxBody, `body of ${m.body.length} bytes delivered`);
    messages.push(plain(m));
  };
  for (const chunk of chunks) {
    try {
      decoder.push(chunk, sink);
    } catch (err) {
      assert.ok(err instanceof ProtocolError, `push threw a non-ProtocolError: ${String(err)}`);
      assert.ok(decoder.pendingBytes <= limit, `holding ${decoder.pendingBytes} bytes after error`);
      // The stream is dead: the same error again, nothing delivered.
      const before = messages.length;
      assert.throws(() => decoder.push(new Uint8Array([0]), sink), (again: unknown) => again === err);
      assert.equal(messages.length, before);
      return { messages, error: err.reason, pending: -1 };
    }
    assert.ok(decoder.pendingBytes <= limit, `holding ${decoder.pendingBytes} bytes, limit ${limit}`);
    assert.ok(decoder.pendingBytes >= 0);
    if (stats) stats.maxPending = Math.max(stats.maxPending, decoder.pendingBytes);
  }
  return { messages, error: null, pending: decoder.pendingBytes };
}

const u32 = fc.integer({ min: 0, max: U32_MAX });
const body = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: MAX_BODY - 3, maxLength: MAX_BODY }) },
);
const cutsArb = fc.array(fc.nat(), { maxLength: 40 });

function u32be(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

interface FormatCase {
  label: string;
  format: FrameFormat;
  /** Messages the format carries, paired with what its decoder gives back. */
  message: fc.Arbitrary<{ sent: Message; received: Plain }>;
  /** A header that is valid, nearly valid, or announces a body around the limit; and that body length. */
  header: fc.Arbitrary<{ bytes: Uint8Array; bodyLength: number }>;
  /** A header announcing a 0xffffffff length field. */
  hugeHeader: Uint8Array;
  /** Every way the format's headers can be rejected. */
  reasons: readonly ProtocolErrorReason[];
}

const lengthAround = (overhead: number): fc.Arbitrary<number> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: overhead, max: overhead + MAX_BODY + 8 }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: overhead + 1 }) },
    { weight: 1, arbitrary: u32 },
  );

const nativeCase: FormatCase = {
  label: "native",
  format: nativeFormat({ maxBody: MAX_BODY }),
  message: fc
    .record({ type: fc.constantFrom(...Object.values(MessageType)), id: u32, command: u32, body })
    .map((sent) => ({ sent, received: plain(sent) })),
  header: fc
    .tuple(
      lengthAround(10),
      fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 1, max: 8 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
      fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
      u32,
      u32,
    )
    .map(([length, type, flags, id, command]) => ({
      bytes: new Uint8Array([...u32be(length), type, flags, ...u32be(id), ...u32be(command)]),
      bodyLength: length - 10,
    })),
  hugeHeader: new Uint8Array([0xff, 0xff, 0xff, 0xff, MessageType.Request, 0, 0, 0, 0, 1, 0, 0, 0, 1]),
  reasons: ["bad-length", "bad-type", "bad-flags", "frame-too-large"],
};

const fireflyCase: FormatCase = {
  label: "firefly",
  format: fireflyFormat({ magic: MAGIC, protocolVersion: PROTOCOL_VERSION, serverVersion: SERVER_VERSION, maxBody: MAX_BODY }),
  // Firefly has no type or id on the wire: whatever is sent comes back as a Request with id 0.
  message: fc
    .record({
      type: fc.constantFrom(MessageType.Request, MessageType.Response, MessageType.Push, MessageType.Error),
      id: u32,
      command: u32,
      body,
    })
    .map((sent) => ({ sent, received: { type: MessageType.Request, id: 0, command: sent.command, body: hex(sent.body) } })),
  header: fc
    .tuple(
      fc.oneof({ weight: 6, arbitrary: fc.constant([...MAGIC]) }, { weight: 1, arbitrary: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }) }),
      fc.oneof({ weight: 6, arbitrary: fc.constant(PROTOCOL_VERSION) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
      fc.oneof({ weight: 6, arbitrary: fc.constant(SERVER_VERSION) }, { weight: 1, arbitrary: u32 }),
      lengthAround(4),
      u32,
    )
    .map(([magic, pv, sv, length, command]) => ({
      bytes: new Uint8Array([...magic, pv, ...u32be(sv), ...u32be(length), ...u32be(command)]),
      bodyLength: length - 4,
    })),
  hugeHeader: new Uint8Array([...MAGIC, PROTOCOL_VERSION, ...u32be(SERVER_VERSION), 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1]),
  reasons: ["bad-magic", "bad-version", "bad-length", "frame-too-large"],
};

/**
 * Hostile stream: valid frames, near-valid headers followed by as many random bytes as they
 * announce (when that is small), bare headers, and plain garbage.
 */
function hostile(c: FormatCase): fc.Arbitrary<Uint8Array> {
  const framed = c.header.chain(({ bytes, bodyLength }) =>
    bodyLength >= 0 && bodyLength <= MAX_BODY + 8
      ? fc.uint8Array({ minLength: bodyLength, maxLength: bodyLength }).map((b) => concat([bytes, b]))
      : fc.constant(bytes),
  );
  const segment = fc.oneof(
    { weight: 6, arbitrary: c.message.map((m) => c.format.encode(m.sent)!) },
    { weight: 4, arbitrary: framed },
    { weight: 1, arbitrary: c.header.map((h) => h.bytes) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: MAX_BODY + 24 }) },
  );
  return fc.array(segment, { maxLength: 16 }).map(concat);
}

for (const c of [nativeCase, fireflyCase]) {
  test(`${c.label} property: encoded messages split at arbitrary points decode to the same messages in order`, () => {
    fc.assert(
      fc.property(fc.array(c.message, { maxLength: 20 }), cutsArb, (messages, cuts) => {
        const data = concat(messages.map((m) => c.format.encode(m.sent)!));
        const expected = messages.map((m) => m.received);
        const chunked = run(c.format, split(data, cuts));
        assert.deepEqual(chunked, { messages: expected, error: null, pending: 0 });
      }),
      { numRuns: RUNS },
    );
  });

  test(`${c.label} property: 1-byte chunks with empty chunks in between decode to the same messages`, () => {
    fc.assert(
      fc.property(fc.array(c.message, { maxLength: 6 }), (messages) => {
        const data = concat(messages.map((m) => c.format.encode(m.sent)!));
        const chunks = bytewise(data).flatMap((b) => [b, new Uint8Array(0)]);
        assert.deepEqual(run(c.format, chunks), { messages: messages.map((m) => m.received), error: null, pending: 0 });
      }),
      { numRuns: Math.floor(RUNS / 3) },
    );
  });

  test(`${c.label} property: random bytes, split anywhere, only ever raise ProtocolError and stay within header + maxBody`, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), cutsArb, (data, cuts) => {
        run(c.format, split(data, cuts));
      }),
      { numRuns: RUNS },
    );
  });

  test(`${c.label} property: near-valid hostile streams only raise ProtocolError, stay within header + maxBody, and decode the same however split`, () => {
    const reasons = new Set<string>();
    const stats = { maxPending: 0 };
    let delivered = 0;
    fc.assert(
      fc.property(hostile(c), cutsArb, (data, cuts) => {
        const whole = run(c.format, [data]);
        const chunked = run(c.format, split(data, cuts), stats);
        const single = run(c.format, bytewise(data), stats);
        assert.deepEqual(chunked, whole);
        assert.deepEqual(single, whole);
        if (whole.error !== null) reasons.add(whole.error);
        delivered += whole.messages.length;
      }),
      { numRuns: RUNS },
    );
    // The generator must actually reach every rejection, frames near the limit and plenty of
    // successful frames, or the property says little.
    assert.deepEqual([...reasons].sort(), [...c.reasons].sort());
    assert.ok(stats.maxPending > c.format.headerSize + MAX_BODY - 8, `pending peaked at ${stats.maxPending}`);
    assert.ok(delivered > RUNS, `only ${delivered} messages delivered`);
  });

  test(`${c.label}: pendingBytes tracks a partial header, then header + partial body, never past the frame`, () => {
    const frame = c.format.encode({ type: MessageType.Request, id: 1, command: 2, body: new Uint8Array(MAX_BODY).fill(1) })!;
    assert.equal(frame.length, c.format.headerSize + MAX_BODY);
    const decoder = c.format.createDecoder();
    const got: Message[] = [];
    for (let i = 0; i < frame.length; i++) {
      decoder.push(frame.subarray(i, i + 1), (m) => got.push(m));
      assert.equal(decoder.pendingBytes, i === frame.length - 1 ? 0 : i + 1, `after byte ${i}`);
    }
    assert.equal(got.length, 1);
  });

  test(`${c.label}: a header announcing length 0xffffffff throws frame-too-large at once (small and default limits)`, () => {
    const formats = [c.format, c.label === "native" ? nativeFormat() : fireflyFormat({ magic: MAGIC, protocolVersion: PROTOCOL_VERSION, serverVersion: SERVER_VERSION })];
    for (const format of formats) {
      assert.equal(c.hugeHeader.length, format.headerSize);
      const outcome = run(format, [c.hugeHeader]);
      assert.equal(outcome.error, "frame-too-large");
      // Also when the header itself arrives in pieces.
      assert.equal(run(format, [c.hugeHeader.subarray(0, 5), c.hugeHeader.subarray(5)]).error, "frame-too-large");
    }
    assert.equal(formats[1]!.maxBody, DEFAULT_MAX_BODY);
  });

  test(`${c.label} sticky packets: 1000 frames in one chunk are all delivered in order`, () => {
    const sent: Message[] = [];
    for (let i = 0; i < 1000; i++) {
      sent.push({ type: MessageType.Request, id: 0, command: i, body: new Uint8Array(i % 7).fill(i & 0xff) });
    }
    const got = run(c.format, [concat(sent.map((m) => c.format.encode(m)!))]);
    assert.deepEqual(got, { messages: sent.map(plain), error: null, pending: 0 });
  });

  test(`${c.label} sticky packets: a chunk ending mid-header (and one ending right after a header) continues correctly`, () => {
    const f = c.format;
    const a = f.encode({ type: MessageType.Request, id: 0, command: 1, body: new Uint8Array([0xa1, 0xa2]) })!;
    const b = f.encode({ type: MessageType.Request, id: 0, command: 2, body: new Uint8Array([0xb1, 0xb2, 0xb3]) })!;
    const d = f.encode({ type: MessageType.Request, id: 0, command: 3, body: new Uint8Array(0) })!;
    const e = f.encode({ type: MessageType.Request, id: 0, command: 4, body: new Uint8Array([0xe1]) })!;
    const all = concat([a, b, d, e]);
    const h = f.headerSize;
    const expected = [
      { type: 3, id: 0, command: 1, body: "a1a2" },
      { type: 3, id: 0, command: 2, body: "b1b2b3" },
      { type: 3, id: 0, command: 3, body: "" },
      { type: 3, id: 0, command: 4, body: "e1" },
    ];

    const decoder = f.createDecoder();
    const out: Plain[] = [];
    const push = (chunk: Uint8Array): void => decoder.push(chunk, (m) => out.push(plain(m)));
    // a whole + 5 bytes of b's header
    push(all.subarray(0, a.length + 5));
    assert.deepEqual(out, expected.slice(0, 1));
    assert.equal(decoder.pendingBytes, 5);
    // rest of b's header exactly: header complete, body still missing
    push(all.subarray(a.length + 5, a.length + h));
    assert.deepEqual(out, expected.slice(0, 1));
    assert.equal(decoder.pendingBytes, h);
    // b's body + d (empty body) + 1 byte of e
    push(all.subarray(a.length + h, a.length + b.length + d.length + 1));
    assert.deepEqual(out, expected.slice(0, 3));
    assert.equal(decoder.pendingBytes, 1);
    // the rest
    push(all.subarray(a.length + b.length + d.length + 1));
    assert.deepEqual(out, expected);
    assert.equal(decoder.pendingBytes, 0);
  });
}

test("header sizes used above match the formats", () => {
  assert.equal(nativeCase.format.headerSize, NATIVE_HEADER_SIZE);
  assert.equal(fireflyCase.format.headerSize, FIREFLY_HEADER_SIZE);
});
