/**
 * Raw channels (frame command ≠ 0 on a link): bytes in, bytes out, one callback per call —
 * with the same guarantees as service calls: timeout, fail-fast on a closed link, bounds, and
 * clear errors for unknown channels and failing handlers.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { decodeControl, MessageType, RpcErrorCode, type ErrorBody, type Link, type RawDone, type ReplyType, type RpcError } from "../../src/index.ts";
import { frame, logged, rawPeer, sleep, startRemote, startRoot, waitFor } from "./helpers.ts";

const ECHO = 7;
const LATER = 8;
const NEVER = 9;
const THROWS = 10;
const NOTES = 11;

interface Reply {
  err: RpcError | null;
  type: ReplyType;
  body: Uint8Array;
  ms: number;
}

function callRaw(link: Link, channel: number, body: Uint8Array, timeoutMs?: number): Promise<Reply> {
  const started = performance.now();
  return new Promise((resolve) => {
    const done: RawDone = (err, type, reply) => resolve({ err, type, body: reply, ms: performance.now() - started });
    link.callRaw(channel, `channel ${channel}`, body, timeoutMs, done);
  });
}

const bytes = (...b: number[]) => new Uint8Array(b);

async function pair(t: TestContext, options: { maxInFlight?: number } = {}) {
  const { root, port, lines } = await startRoot(t, { maxBodyBytes: 1 << 20, ...(options.maxInFlight === undefined ? {} : { maxInFlight: options.maxInFlight }) });
  const notes: number[][] = [];
  const held: (() => void)[] = [];
  root.services.channel(ECHO, (link, id, body) => link.replyRaw(id, MessageType.Response, body));
  root.services.channel(LATER, (link, id, body) => held.push(() => link.replyRaw(id, MessageType.Error, body)));
  root.services.channel(NEVER, () => {});
  root.services.channel(THROWS, () => {
    throw new Error("handler bug");
  });
  root.services.channel(NOTES, (_link, id, body) => notes.push([id, ...body]));
  const { remote } = await startRemote(t, port);
  await waitFor(() => root.children().length === 1);
  return { root, remote, link: remote.currentLink!, lines, notes, held };
}

test("a raw call gets the peer's bytes back untouched, Response or Error", async (t) => {
  const { link, held } = await pair(t);
  const echo = await callRaw(link, ECHO, bytes(1, 2, 3));
  assert.equal(echo.err, null);
  assert.equal(echo.type, MessageType.Response);
  assert.deepEqual([...echo.body], [1, 2, 3]);
  const empty = await callRaw(link, ECHO, bytes());
  assert.equal(empty.body.length, 0);
  // A handler may answer later, and with an Error frame whose body is passed on as it is.
  const later = callRaw(link, LATER, bytes(9, 9));
  await waitFor(() => held.length === 1);
  held[0]!();
  const reply = await later;
  assert.equal(reply.err, null);
  assert.equal(reply.type, MessageType.Error);
  assert.deepEqual([...reply.body], [9, 9]);
});

test("raw calls time out, and fail at once when the link drops or is not open", async (t) => {
  const { root, remote, link } = await pair(t);
  const timedOut = await callRaw(link, NEVER, bytes(1), 100);
  assert.equal(timedOut.err?.code, RpcErrorCode.Timeout);
  assert.ok(timedOut.ms >= 95 && timedOut.ms < 1000, `timed out after ${timedOut.ms} ms`);
  const waiting = callRaw(link, NEVER, bytes(1), 10_000);
  await sleep(30);
  root.child("game1")!.destroy("test drops the link");
  const dropped = await waiting;
  assert.equal(dropped.err?.code, RpcErrorCode.LinkClosed);
  assert.ok(dropped.ms < 1000, `failed after ${dropped.ms} ms, not at the timeout`);
  const closed = await callRaw(link, ECHO, bytes(1));
  assert.equal(closed.err?.code, RpcErrorCode.NotConnected, "a closed link refuses at once");
  assert.equal(remote.stats.timeouts, 1);
});

test("an unknown channel, a throwing handler and an oversized body get typed errors; the link stays", async (t) => {
  const { link, lines } = await pair(t);
  const unknown = await callRaw(link, 4242, bytes());
  assert.equal(unknown.type, MessageType.Error);
  assert.equal(decodeControl<ErrorBody>(unknown.body, ["code"]).code, RpcErrorCode.UnknownService);
  const thrown = await callRaw(link, THROWS, bytes());
  assert.equal(decodeControl<ErrorBody>(thrown.body, ["code"]).code, RpcErrorCode.RemoteFailed);
  await logged(lines, /handler bug/);
  const huge = await callRaw(link, ECHO, new Uint8Array((1 << 20) + 1));
  assert.equal(huge.err?.code, RpcErrorCode.BadPayload, "above the peer's frame limit: refused before sending");
  assert.equal(link.isOpen, true);
  assert.deepEqual([...(await callRaw(link, ECHO, bytes(5))).body], [5]);
});

test("raw notifies arrive in order with id 0; channel requests count against maxInFlight", async (t) => {
  const { root, remote, link, notes, held } = await pair(t, { maxInFlight: 2 });
  const before = { ...remote.stats };
  for (let i = 0; i < 5; i++) assert.equal(link.notifyRaw(NOTES, bytes(i)), true);
  await waitFor(() => notes.length === 5);
  // The five frames of one turn left in one write and were read in one (or few) reads.
  assert.equal(remote.stats.framesOut - before.framesOut, 5);
  assert.equal(remote.stats.flushes - before.flushes, 1);
  assert.ok(root.stats.framesIn >= 5 && root.stats.reads < root.stats.framesIn);
  assert.deepEqual(notes, [[0, 0], [0, 1], [0, 2], [0, 3], [0, 4]]);
  const first = callRaw(link, LATER, bytes(1));
  const second = callRaw(link, LATER, bytes(2));
  await waitFor(() => held.length === 2);
  const third = await callRaw(link, LATER, bytes(3));
  assert.equal(decodeControl<ErrorBody>(third.body, ["code"]).code, RpcErrorCode.TooManyInFlight);
  for (const answer of held.splice(0)) answer();
  await Promise.all([first, second]);
  const fourth = callRaw(link, LATER, bytes(4));
  await waitFor(() => held.length === 1, 2000, "a freed slot to take the next call");
  held[0]!();
  assert.equal((await fourth).err, null);
});

test("channel 0 is the services' own and channel numbers are checked", async (t) => {
  const { root } = await startRoot(t);
  assert.throws(() => root.services.channel(0, () => {}), RangeError);
  assert.throws(() => root.services.channel(2 ** 32, () => {}), RangeError);
  root.services.channel(1, () => {});
  assert.throws(() => root.services.channel(1, () => {}), /already has a handler/);
});

test("a peer's reply to a channel request it never got is counted late and ignored", async (t) => {
  const { port, root } = await startRoot(t);
  const peer = await rawPeer(t, port, "rogue");
  await waitFor(() => root.children().includes("rogue"));
  // A Response with an id nothing is waiting for: dropped, link kept.
  peer.send({ ...frame(MessageType.Response, bytes(1), 77), command: ECHO });
  await waitFor(() => root.stats.late === 1);
  assert.equal(root.child("rogue")?.isOpen, true);
});
