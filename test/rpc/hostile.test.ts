/**
 * Peers that break the rules, speaking raw bytes to a root: each is refused or dropped with a
 * logged reason (and a Kick saying why), and the root keeps serving its other children.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { createConnection } from "node:net";
import {
  decodeControl,
  encodeCall,
  encodeControl,
  encodeHello,
  encodeNative,
  KickCode,
  MessageType,
  RootClient,
  RpcErrorCode,
  service,
  type ErrorBody,
  type KickBody,
  type LinkHello,
  type RootServer,
} from "../../src/index.ts";
import { captureLogger, utf8, type RawClient } from "../helpers.ts";
import { frame, hello, logged, rawPeer, rpcError, sleep, startRemote, startRoot, waitFor } from "./helpers.ts";

const Echo = service<[value: unknown], unknown>("echo");
const Record_ = service<[blob: string], void>("record");

/** A root with one well-behaved child, to show it is unaffected. */
async function rootWithChild(t: TestContext, options: Parameters<typeof startRoot>[1] = {}) {
  const started = await startRoot(t, options);
  started.root.services.handle(Echo, ([v]) => v);
  const { remote } = await startRemote(t, started.port, { name: "good" });
  await waitFor(() => started.root.children().includes("good"));
  return { ...started, remote };
}

async function kickOf(peer: RawClient): Promise<KickBody> {
  const kick = await peer.next((m) => m.type === MessageType.Kick);
  await peer.waitClosed();
  return decodeControl<KickBody>(kick.body, ["code"]);
}

async function stillServes(root: RootServer, remote: RootClient): Promise<void> {
  assert.equal(await remote.call(Echo, "fine"), "fine");
  assert.deepEqual(root.children(), ["good"]);
}

test("an oversized frame closes only that link, whether before or after the handshake", async (t) => {
  const { root, port, remote, lines } = await rootWithChild(t, { maxBodyBytes: 1024 });
  for (const handshake of [false, true]) {
    const evil = await rawPeer(t, port, handshake ? "evil" : undefined);
    // A header announcing a 4 GiB body: refused from the header, before any body is buffered.
    evil.socket.write(Buffer.from([0xff, 0xff, 0xff, 0xf0, MessageType.Request, 0, 0, 0, 0, 1, 0, 0, 0, 0]));
    const kick = await kickOf(evil);
    assert.equal(kick.code, KickCode.ProtocolError);
    assert.match(kick.reason, /frame-too-large/);
    await stillServes(root, remote);
  }
  // Just over the limit, as a whole frame.
  const big = await rawPeer(t, port, "big");
  big.send(frame(MessageType.Notify, new Uint8Array(1025)));
  assert.match((await kickOf(big)).reason, /frame body of 1025 bytes exceeds the limit of 1024/);
  await stillServes(root, remote);
  await logged(lines, /link closed .*frame-too-large/);
});

test("garbage instead of a handshake is refused", async (t) => {
  const { root, port, remote } = await rootWithChild(t);
  const http = await rawPeer(t, port);
  http.socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  assert.equal((await kickOf(http)).code, KickCode.ProtocolError);

  const notFirst = await rawPeer(t, port);
  notFirst.send(frame(MessageType.Request, encodeCall("echo", [1]), 1));
  assert.match((await kickOf(notFirst)).reason, /handshake-required/);
  await stillServes(root, remote);
});

test("a malformed or foreign hello is refused with the reason", async (t) => {
  const { root, port, remote } = await rootWithChild(t);
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ["not JSON", utf8("{node: game1"), /not UTF-8 JSON/],
    ["a game client's hello", encodeControl({ protocol: 1, client: "game" }), /"link" must be a number/],
    ["a newer link version", encodeHello(hello("x", { link: 2 })), /link version 2 is not supported/],
    ["a newer protocol", encodeHello(hello("x", { protocol: 2 })), /protocol version 2/],
    ["an empty name", encodeHello(hello("")), /"node" must be a string/],
    ["a name with a newline", encodeHello(hello("a\nb")), /"node" must be a string/],
    ["a zero heartbeat", encodeHello(hello("x", { heartbeatMs: 0 })), /"heartbeatMs" must be a positive integer/],
  ];
  for (const [what, body, reason] of cases) {
    const peer = await rawPeer(t, port);
    peer.send(frame(MessageType.Handshake, body));
    const kick = await kickOf(peer);
    assert.equal(kick.code, KickCode.ProtocolError, what);
    assert.match(kick.reason, reason, what);
  }
  // A hello above 64 KiB is refused from its header; so is a frame pipelined half-way behind the hello.
  const huge = await rawPeer(t, port);
  huge.send(frame(MessageType.Handshake, encodeHello(hello("x", { padding: "p".repeat(70_000) } as Partial<LinkHello>))));
  assert.match((await kickOf(huge)).reason, /frame-too-large/);
  const eager = await rawPeer(t, port);
  const helloFrame = encodeNative(frame(MessageType.Handshake, encodeHello(hello("eager"))));
  const callFrame = encodeNative(frame(MessageType.Request, encodeCall("echo", [1]), 1));
  eager.socket.write(Buffer.concat([helloFrame, callFrame.subarray(0, 5)]));
  assert.match((await kickOf(eager)).reason, /frames were sent after the hello before its answer/);
  await stillServes(root, remote);
});

test("a peer that sends no handshake in time is closed", async (t) => {
  const { root, port, remote } = await rootWithChild(t, { handshakeTimeoutMs: 100 });
  const started = Date.now();
  const mute = await rawPeer(t, port);
  const kick = await kickOf(mute);
  assert.equal(kick.code, KickCode.HandshakeTimeout);
  assert.ok(Date.now() - started >= 90, "not before the deadline");
  await stillServes(root, remote);
});

test("a child of another cluster (or none, or one where the root has none) is refused before it opens", async (t) => {
  const blue = await startRoot(t, { cluster: "blue" });
  const plain = await startRoot(t, { name: "plain" });
  const events: string[] = [];
  for (const { root } of [blue, plain]) root.onChildConnected((name) => events.push(name));
  for (const [root, cluster, pattern] of [
    [blue, "red", /cluster mismatch: this node is in cluster "blue", the peer in cluster "red"/],
    [blue, undefined, /this node is in cluster "blue", the peer in no cluster/],
    [plain, "red", /this node is in no cluster, the peer in cluster "red"/],
  ] as const) {
    const { logger } = captureLogger();
    const remote = new RootClient({ name: "game1", cluster, logger, reconnect: false });
    t.after(() => remote.close());
    await assert.rejects(remote.connect("127.0.0.1", root.port, { waitMs: 2000 }), rpcError(RpcErrorCode.NotConnected, pattern));
    assert.equal(remote.state, "idle");
    await logged(root.lines, /warn .*cluster mismatch/); // the root logs why (quotes are escaped in log lines)
  }
  assert.deepEqual(events, [], "a refused child never counts as connected");
  // The same cluster is welcome.
  const { remote } = await startRemote(t, blue.port, { cluster: "blue" });
  assert.equal(remote.state, "open");
});

test("a peer that stops reading is dropped once its outbound queue passes the bound", async (t) => {
  const { root, port, remote, lines } = await rootWithChild(t, { maxBodyBytes: 64 * 1024, maxOutboundBytes: 256 * 1024 });
  const sink = await rawPeer(t, port, "sink");
  await waitFor(() => root.children().includes("sink"));
  sink.socket.pause(); // never reads again
  const blob = "z".repeat(60 * 1024);
  let sent = 0;
  while (root.notifyChild("sink", Record_, blob)) {
    sent++;
    if (sent > 2000) assert.fail("the link to a peer that does not read was never dropped");
    await sleep(1); // spread over turns so the kernel buffers fill first, as in real life
  }
  await logged(lines, /outbound queue above 262144 bytes: the peer is not reading/);
  assert.deepEqual(root.children(), ["good"]);
  await stillServes(root, remote);
});

test("an undecodable call is answered BadPayload and the link stays; server-only types close it", async (t) => {
  const { root, port, remote } = await rootWithChild(t);
  const peer = await rawPeer(t, port, "odd");
  peer.send(frame(MessageType.Request, utf8("not msgpack at all"), 7));
  const error = await peer.next((m) => m.type === MessageType.Error && m.id === 7);
  assert.equal(decodeControl<ErrorBody>(error.body, ["code"]).code, RpcErrorCode.BadPayload);
  peer.send(frame(MessageType.Request, encodeCall("echo", ["ok"]), 8));
  const reply = await peer.next((m) => m.type === MessageType.Response && m.id === 8);
  assert.deepEqual([...reply.body], [0xa2, 0x6f, 0x6b]); // msgpack "ok"

  peer.send(frame(MessageType.Push, encodeCall("echo", [1])));
  assert.match((await kickOf(peer)).reason, /bad-direction/);
  await stillServes(root, remote);
});

test("a child that goes silent is dropped by the root after the idle timeout", async (t) => {
  const { root, port, remote, lines } = await rootWithChild(t, { heartbeatMs: 30, idleTimeoutMs: 120 });
  const mute = await rawPeer(t, port, "mute", { heartbeatMs: 20 });
  await waitFor(() => root.children().includes("mute"));
  await mute.waitClosed(2000);
  await logged(lines, /nothing heard from the peer/);
  assert.ok(mute.messages.some((m) => m.type === MessageType.Heartbeat), "the root sent heartbeats meanwhile");
  await stillServes(root, remote);
});

test("the root bounds its children and the sockets in their handshake", async (t) => {
  const { root, port, remote } = await rootWithChild(t, { maxChildren: 1 });
  const extra = await rawPeer(t, port);
  extra.send(frame(MessageType.Handshake, encodeHello(hello("second"))));
  assert.equal((await kickOf(extra)).code, KickCode.ServerFull);

  // 64 sockets may sit in their handshake; the next ones are dropped at once.
  const sockets = await Promise.all(
    Array.from({ length: 70 }, () => {
      const socket = createConnection({ port, host: "127.0.0.1" });
      socket.on("error", () => {});
      t.after(() => socket.destroy());
      return new Promise<boolean>((resolve) => {
        socket.once("close", () => resolve(true));
        socket.once("connect", () => setTimeout(() => resolve(socket.destroyed || socket.readyState !== "open"), 200));
      });
    }),
  );
  assert.ok(sockets.filter(Boolean).length >= 6, "sockets over the handshake bound are closed");
  await stillServes(root, remote);
});
