/** Per-connection bounds over real loopback sockets: outbound queue, frame size, in-flight cap, connection table. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { command, defineApp, ErrorCode, KickCode, MessageType, push, type Node } from "../../src/index.ts";
import { captureLogger, json, portOf, RawClient, sleep, startNode, waitFor } from "../helpers.ts";

const Ping = command<unknown, string>(1);
const Big = push<string>(50, { codec: "raw" });

test("a client that stops reading is closed as a slow consumer; memory stays flat; others are unaffected", async () => {
  const { logger, lines } = captureLogger();
  const node = await startNode({ tcp: [{ port: 0 }], limits: { maxOutboundBytes: 2 * 1024 * 1024 } }, [defineApp((n) => n.commands.handle(Ping, () => "pong"))], logger);
  try {
    const slow = await RawClient.open(portOf(node, "tcp"));
    const healthy = await RawClient.open(portOf(node, "tcp"));
    slow.socket.pause(); // stop reading: the kernel buffers fill, then glowfly's queue
    const slowId = [...node.clients()][0]!.id;
    const chunk = new Uint8Array(64 * 1024) as unknown as string; // raw codec: bytes pass through
    const before = process.memoryUsage().rss;
    let accepted = 0;
    // 4,000 x 64 KiB = 250 MiB offered; the bound must stop this long before.
    for (let i = 0; i < 4000; i++) {
      if (!node.push(slowId, Big, chunk)) break;
      accepted++;
      if (i % 16 === 15) await sleep(0); // let the socket drain into the kernel as far as it will
    }
    const grown = process.memoryUsage().rss - before;
    assert.ok(accepted < 400, `push kept accepting (${accepted} x 64 KiB) past the 2 MiB queue bound`);
    assert.ok(grown < 64 * 1024 * 1024, `rss grew by ${(grown / 1048576).toFixed(1)} MiB`);
    await waitFor(() => node.stats.connections === 1, 3000, "the slow connection to be dropped");
    assert.ok(lines.some((l) => l.includes("closing connection") && l.includes(`code=${KickCode.SlowConsumer}`)), "slow consumer reason logged");
    slow.socket.resume(); // reading again, the client sees its socket was reset
    await slow.waitClosed();
    healthy.request(7, 1, undefined);
    const reply = await healthy.next((m) => m.id === 7);
    assert.equal(reply.type, MessageType.Response);
    healthy.close();
  } finally {
    await node.stop();
  }
});

test("a frame above the body limit closes only that connection, with a ProtocolError kick", async () => {
  const node = await startNode({ tcp: [{ port: 0 }], limits: { maxBodyBytes: 1024, maxOutboundBytes: 65536 } }, [defineApp((n) => n.commands.handle(Ping, () => "pong"))]);
  try {
    const bad = await RawClient.open(portOf(node, "tcp"));
    const good = await RawClient.open(portOf(node, "tcp"));
    // Only the header goes out: the server must refuse it without waiting for 1 MiB of body.
    const header = Buffer.alloc(14);
    header.writeUInt32BE(10 + 1024 * 1024, 0);
    header[4] = MessageType.Request;
    header.writeUInt32BE(1, 6);
    header.writeUInt32BE(1, 10);
    bad.socket.write(header);
    const kick = await bad.next((m) => m.type === MessageType.Kick);
    const body = json(kick.body) as { code: number; reason: string };
    assert.equal(body.code, KickCode.ProtocolError);
    assert.match(body.reason, /frame-too-large/);
    await bad.waitClosed();
    good.request(2, 1, undefined);
    assert.equal((await good.next((m) => m.id === 2)).type, MessageType.Response);
    good.close();
  } finally {
    await node.stop();
  }
});

test("requests beyond the in-flight cap are answered TooManyInFlight and the connection stays open", async () => {
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const Wait = command<unknown, string>(2);
  const node = await startNode({ tcp: [{ port: 0 }], limits: { maxInFlight: 2 } }, [
    defineApp((n) => {
      n.commands.handle(Wait, async () => {
        await gate;
        return "done";
      });
    }),
  ]);
  try {
    const c = await RawClient.open(portOf(node, "tcp"));
    for (let id = 1; id <= 5; id++) c.request(id, 2, undefined);
    const refused = await Promise.all([3, 4, 5].map((id) => c.next((m) => m.id === id)));
    for (const m of refused) {
      assert.equal(m.type, MessageType.Error);
      assert.equal((json(m.body) as { code: number }).code, ErrorCode.TooManyInFlight);
    }
    assert.equal(node.stats.inFlight, 2);
    release();
    for (const id of [1, 2]) assert.equal((await c.next((m) => m.id === id)).type, MessageType.Response);
    // Slots are free again.
    c.request(6, 2, undefined);
    assert.equal((await c.next((m) => m.id === 6)).type, MessageType.Response);
    assert.equal(c.closed, false);
    c.close();
  } finally {
    await node.stop();
  }
});

test("notifies count against the in-flight cap: a flood is dropped, not queued", async () => {
  let running = 0;
  let peak = 0;
  const Slow = command<unknown, void>(3);
  const node = await startNode({ tcp: [{ port: 0 }], limits: { maxInFlight: 4 } }, [
    defineApp((n) =>
      n.commands.handle(Slow, async () => {
        running++;
        peak = Math.max(peak, running);
        await sleep(50);
        running--;
      }),
    ),
  ]);
  try {
    const c = await RawClient.open(portOf(node, "tcp"));
    for (let i = 0; i < 100; i++) c.send({ type: MessageType.Notify, id: 0, command: 3, body: new Uint8Array() });
    await sleep(200);
    assert.equal(peak, 4);
    assert.equal(c.closed, false);
    c.close();
  } finally {
    await node.stop();
  }
});

test("the connection table is bounded: past maxConnections a client is kicked with ServerFull", async () => {
  const node = await startNode({ tcp: [{ port: 0 }], maxConnections: 2 });
  try {
    const a = await RawClient.open(portOf(node, "tcp"));
    const b = await RawClient.open(portOf(node, "tcp"));
    const c = await RawClient.open(portOf(node, "tcp"), { handshake: false });
    const kick = await c.next((m) => m.type === MessageType.Kick);
    assert.equal((json(kick.body) as { code: number }).code, KickCode.ServerFull);
    await c.waitClosed();
    a.close();
    await waitFor(() => node.stats.connections === 1);
    const d = await RawClient.open(portOf(node, "tcp"));
    assert.equal(d.closed, false);
    b.close();
    d.close();
  } finally {
    await node.stop();
  }
});

export type { Node };
