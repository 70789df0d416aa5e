/** Protocol violations and liveness over real sockets: each closes only the offending connection. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { WebSocket } from "ws";
import { command, defineApp, encodeControl, encodeNative, fireflyFormat, KickCode, MessageType, type Node } from "../../src/index.ts";
import { json, portOf, RawClient, sleep, startNode, utf8, waitFor } from "../helpers.ts";

const Ping = command<unknown, string>(1);
const pingApp = defineApp((n) => n.commands.handle(Ping, () => "pong"));

async function expectKick(client: RawClient, code: number, reason?: RegExp): Promise<void> {
  const kick = await client.next((m) => m.type === MessageType.Kick);
  const body = json(kick.body) as { code: number; reason: string };
  assert.equal(body.code, code, `kick code (reason: ${body.reason})`);
  if (reason) assert.match(body.reason, reason);
  await client.waitClosed();
}

/** A healthy client on the same node still gets answers. */
async function assertNodeServes(node: Node): Promise<void> {
  const c = await RawClient.open(portOf(node, "tcp"));
  c.request(99, 1, undefined);
  assert.equal((await c.next((m) => m.id === 99)).type, MessageType.Response);
  c.close();
}

test("native: the first frame must be a handshake", async () => {
  const node = await startNode({ tcp: [{ port: 0 }] }, [pingApp]);
  try {
    const c = await RawClient.open(portOf(node, "tcp"), { handshake: false });
    c.request(1, 1, undefined);
    await expectKick(c, KickCode.ProtocolError, /handshake-required/);
    await assertNodeServes(node);
  } finally {
    await node.stop();
  }
});

test("native: a handshake with a wrong version or a non-JSON body is refused", async () => {
  const node = await startNode({ tcp: [{ port: 0 }] }, [pingApp]);
  try {
    const v2 = await RawClient.open(portOf(node, "tcp"), { handshake: false });
    v2.send({ type: MessageType.Handshake, id: 0, command: 0, body: encodeControl({ protocol: 2 }) });
    await expectKick(v2, KickCode.ProtocolError, /not supported/);
    const junk = await RawClient.open(portOf(node, "tcp"), { handshake: false });
    junk.send({ type: MessageType.Handshake, id: 0, command: 0, body: utf8("{not json") });
    await expectKick(junk, KickCode.ProtocolError, /bad-handshake/);
    await assertNodeServes(node);
  } finally {
    await node.stop();
  }
});

test("native: server-only message types from a client, unknown types and flags close the connection", async () => {
  const node = await startNode({ tcp: [{ port: 0 }] }, [pingApp]);
  try {
    for (const type of [MessageType.Response, MessageType.Error, MessageType.Push, MessageType.Kick]) {
      const c = await RawClient.open(portOf(node, "tcp"));
      c.send({ type, id: 1, command: 1, body: new Uint8Array() });
      await expectKick(c, KickCode.ProtocolError, /bad-direction/);
    }
    const badType = await RawClient.open(portOf(node, "tcp"));
    const frame = encodeNative({ type: MessageType.Request, id: 1, command: 1, body: new Uint8Array() });
    frame[4] = 42;
    badType.socket.write(frame);
    await expectKick(badType, KickCode.ProtocolError, /bad-type/);
    const badFlags = await RawClient.open(portOf(node, "tcp"));
    const flagged = encodeNative({ type: MessageType.Request, id: 1, command: 1, body: new Uint8Array() });
    flagged[5] = 0x80;
    badFlags.socket.write(flagged);
    await expectKick(badFlags, KickCode.ProtocolError, /bad-flags/);
    await assertNodeServes(node);
  } finally {
    await node.stop();
  }
});

test("firefly: wrong magic or version closes the connection (Firefly has no kick frame)", async () => {
  const node = await startNode({ tcp: [{ port: 0 }, { port: 0, frame: "firefly", firefly: { magic: [78, 37, 38, 48], protocolVersion: 9 } }] }, [pingApp]);
  try {
    const port = portOf(node, "tcp", 1);
    const wrongMagic = await RawClient.open(port, { frame: "firefly" }); // default all-zero magic
    wrongMagic.request(0, 1, undefined);
    await wrongMagic.waitClosed();
    assert.equal(wrongMagic.messages.length, 0);

    const good = await RawClient.open(port, { format: fireflyFormat({ magic: [78, 37, 38, 48], protocolVersion: 9 }) });
    good.request(0, 1, undefined);
    const reply = await good.next();
    assert.equal(reply.command, 1);
    assert.equal(json(reply.body), "pong");
    assert.equal(good.closed, false);
    good.close();
    await assertNodeServes(node);
  } finally {
    await node.stop();
  }
});

test("firefly: sticky and partial packets over a real socket are all answered, in order", async () => {
  const Echo = command<{ n: number }, { n: number }>(5);
  const node = await startNode({ tcp: [{ port: 0, frame: "firefly" }] }, [defineApp((n) => n.commands.handle(Echo, (r) => r))]);
  try {
    const c = await RawClient.open(portOf(node, "tcp"), { frame: "firefly" });
    const frames = [1, 2, 3, 4].map((n) => c.format.encode({ type: MessageType.Request, id: 0, command: 5, body: utf8(JSON.stringify({ n })) })!);
    c.socket.write(Buffer.concat([frames[0]!, frames[1]!, frames[2]!])); // three frames in one packet
    const last = frames[3]!;
    for (const [from, to] of [[0, 5], [5, 15], [15, last.length]] as const) {
      c.socket.write(last.subarray(from, to)); // one frame in three packets
      await sleep(20);
    }
    await waitFor(() => c.messages.length === 4);
    assert.deepEqual(c.messages.map((m) => (json(m.body) as { n: number }).n), [1, 2, 3, 4]);
    assert.ok(c.messages.every((m) => m.command === 5));
    c.close();
  } finally {
    await node.stop();
  }
});

test("heartbeats: a client that answers stays; a silent one is closed with IdleTimeout", async () => {
  const node = await startNode({ tcp: [{ port: 0 }], limits: { heartbeatMs: 60, idleTimeoutMs: 250 } }, [pingApp]);
  try {
    const answering = await RawClient.open(portOf(node, "tcp"));
    const silent = await RawClient.open(portOf(node, "tcp"));
    let pings = 0;
    const timer = setInterval(() => {
      for (let m = answering.messages.findIndex((x) => x.type === MessageType.Heartbeat); m >= 0; m = answering.messages.findIndex((x) => x.type === MessageType.Heartbeat)) {
        answering.messages.splice(m, 1);
        pings++;
        answering.send({ type: MessageType.Heartbeat, id: 0, command: 0, body: new Uint8Array() });
      }
    }, 10);
    try {
      await expectKick(silent, KickCode.IdleTimeout);
      await sleep(500);
      assert.equal(answering.closed, false);
      assert.ok(pings >= 3, `answered ${pings} heartbeats`);
    } finally {
      clearInterval(timer);
    }
    answering.close();
  } finally {
    await node.stop();
  }
});

test("a connection that never completes its handshake is closed with HandshakeTimeout, even if it trickles bytes", async () => {
  const node = await startNode({ tcp: [{ port: 0 }], limits: { handshakeTimeoutMs: 200, heartbeatMs: 5000, idleTimeoutMs: 10000 } });
  try {
    const c = await RawClient.open(portOf(node, "tcp"), { handshake: false });
    const hello = encodeNative({ type: MessageType.Handshake, id: 0, command: 0, body: encodeControl({ protocol: 1 }) });
    for (let i = 0; i < 6 && !c.closed; i++) {
      c.socket.write(hello.subarray(i, i + 1)); // one byte at a time, never finishing
      await sleep(60);
    }
    await expectKick(c, KickCode.HandshakeTimeout);
  } finally {
    await node.stop();
  }
});

test("websocket: text messages, partial frames and oversized messages close only that connection", async () => {
  const node = await startNode({ ws: [{ port: 0 }], tcp: [{ port: 0 }], limits: { maxBodyBytes: 1024, maxOutboundBytes: 65536 } }, [pingApp]);
  const url = `ws://127.0.0.1:${portOf(node, "ws")}/`;
  const open = async () => {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    const closed = new Promise<number>((resolve) => ws.once("close", (code: number) => resolve(code)));
    ws.on("error", () => {});
    return { ws, closed };
  };
  try {
    const text = await open();
    text.ws.send("hello");
    await text.closed;

    const partial = await open();
    const hello = encodeNative({ type: MessageType.Handshake, id: 0, command: 0, body: encodeControl({ protocol: 1 }) });
    partial.ws.send(hello.subarray(0, 10));
    await partial.closed;

    const big = await open();
    big.ws.send(new Uint8Array(4096));
    assert.equal(await big.closed, 1009); // ws: message too big

    // A well-behaved WebSocket client works on the same node.
    const good = await open();
    const replies: Uint8Array[] = [];
    good.ws.on("message", (data: Buffer) => replies.push(data));
    good.ws.send(hello);
    good.ws.send(encodeNative({ type: MessageType.Request, id: 3, command: 1, body: new Uint8Array() }));
    await waitFor(() => replies.length === 2);
    assert.equal(replies[1]![4], MessageType.Response);
    good.ws.close();
    await assertNodeServes(node);
  } finally {
    await node.stop();
  }
});
