/**
 * Client SDK connection lifecycle: reconnect with backoff after a drop, giving up, and
 * liveness in both directions (the client drops a silent server; it answers a live one's heartbeats).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { CommandError, ErrorCode, command, connect, type Client, type ClientState } from "../../src/client/index.ts";
import { encodeControl, encodeNative, MessageType, nativeFormat, type Node, type ServerHello } from "../../src/index.ts";
import { portOf, sleep, startNode, waitFor } from "../helpers.ts";

const Echo = command<{ text: string }, { text: string }>(1, { name: "echo" });
const Hang = command<undefined, string>(3, { name: "hang" });
const Record_ = command<{ n: number }, undefined>(5, { name: "record" });

function echoApp(node: Node): void {
  node.commands.handle(Echo, (req) => ({ text: req.text }));
  node.commands.handle(Hang, () => new Promise<string>(() => {}));
  node.commands.handle(Record_, () => undefined);
}

const isClosedError = (err: unknown): boolean => err instanceof CommandError && err.code === ErrorCode.ConnectionClosed;

/** Record every state change of a client, with the time since `since`. */
function recordStates(client: Client, since = Date.now()): Array<{ state: ClientState; at: number }> {
  const seen: Array<{ state: ClientState; at: number }> = [];
  client.onStateChange((state) => seen.push({ state, at: Date.now() - since }));
  return seen;
}

for (const transport of ["tcp", "ws"] as const) {
  test(`reconnects over ${transport} to a node restarted on the same port`, async (t) => {
    const limits = { stopDeadlineMs: 100 };
    const config = transport === "tcp" ? { tcp: [{ port: 0 }] } : { ws: [{ port: 0 }] };
    let node = await startNode({ ...config, ...limits }, [echoApp]);
    t.after(() => node.stop());
    const port = portOf(node, transport);
    const url = transport === "tcp" ? `tcp://127.0.0.1:${port}` : `ws://127.0.0.1:${port}/`;
    const client = await connect(url, { reconnect: { initialDelayMs: 20, maxDelayMs: 100 } });
    t.after(() => client.close());
    const states = recordStates(client);
    assert.deepEqual(await client.request(Echo, { text: "before" }), { text: "before" });

    // A request in flight when the link drops rejects with ConnectionClosed.
    const pending = client.request(Hang, undefined, { timeoutMs: 5000 });
    const pendingOutcome = pending.then(
      () => "resolved",
      (err: unknown) => err,
    );
    await node.stop({ deadlineMs: 100 });
    const outcome = await pendingOutcome;
    assert.ok(isClosedError(outcome), `pending request settled with ${String(outcome)}`);
    await waitFor(() => client.state === "reconnecting", 2000, "state reconnecting");

    // While reconnecting, requests fail at once rather than queueing.
    const started = Date.now();
    await assert.rejects(client.request(Echo, { text: "during" }), isClosedError);
    assert.ok(Date.now() - started < 500, "a request while reconnecting rejects at once, not at its timeout");
    assert.equal(client.notify(Record_, { n: 1 }), false);

    // Let a few attempts fail against the closed port, then bring a node back on it.
    await sleep(150);
    assert.equal(client.state, "reconnecting");
    node = await startNode({ ...config, ...limits, [transport]: [{ port }] }, [echoApp]);
    await waitFor(() => client.state === "open", 3000, "state open again");
    assert.deepEqual(await client.request(Echo, { text: "after" }), { text: "after" });
    assert.deepEqual(
      states.map((s) => s.state),
      ["reconnecting", "open"],
    );
    assert.equal(node.stats.connections, 1);
  });
}

test("reconnect: false closes the client when the link drops", async (t) => {
  const node = await startNode({ tcp: [{ port: 0 }] }, [echoApp]);
  t.after(() => node.stop());
  const client = await connect(`tcp://127.0.0.1:${portOf(node, "tcp")}`, { reconnect: false });
  t.after(() => client.close());
  const states = recordStates(client);
  await node.stop();
  await waitFor(() => client.state === "closed", 2000, "state closed");
  await sleep(100);
  assert.deepEqual(
    states.map((s) => s.state),
    ["closed"],
  );
  await assert.rejects(client.request(Echo, { text: "x" }), isClosedError);
});

test("maxAttempts: the client gives up and closes when no server comes back", async (t) => {
  const node = await startNode({ tcp: [{ port: 0 }] }, [echoApp]);
  t.after(() => node.stop());
  const client = await connect(`tcp://127.0.0.1:${portOf(node, "tcp")}`, {
    reconnect: { initialDelayMs: 20, maxDelayMs: 40, maxAttempts: 2 },
  });
  t.after(() => client.close());
  const states = recordStates(client);
  await node.stop();
  await waitFor(() => client.state === "closed", 3000, "the client to give up");
  assert.deepEqual(
    states.map((s) => s.state),
    ["reconnecting", "closed"],
  );
});

/**
 * A native-protocol server that answers handshakes with `hello` and then never sends another
 * byte, nor closes its side (allowHalfOpen): from the client's side, a dead link.
 */
async function silentServer(hello: ServerHello): Promise<{ server: Server; port: number; handshakes: () => number; sockets: Socket[] }> {
  let handshakes = 0;
  const sockets: Socket[] = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket);
    socket.on("error", () => {});
    const decoder = nativeFormat().createDecoder();
    socket.on("data", (chunk: Buffer) =>
      decoder.push(chunk, (message) => {
        if (message.type !== MessageType.Handshake) return;
        handshakes++;
        socket.write(encodeNative({ type: MessageType.Handshake, id: 0, command: 0, body: encodeControl(hello) }));
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === "object");
  return { server, port: address.port, handshakes: () => handshakes, sockets };
}

test("the client drops a silent server after its idle timeout and reconnects", async (t) => {
  const silent = await silentServer({ protocol: 1, heartbeatMs: 50, idleTimeoutMs: 150, maxBodyBytes: 1048576, maxInFlight: 8, codec: "json" });
  t.after(() => {
    for (const s of silent.sockets) s.destroy();
    silent.server.close();
  });
  const connectedAt = Date.now();
  const client = await connect(`tcp://127.0.0.1:${silent.port}`, { reconnect: { initialDelayMs: 20, maxDelayMs: 100 } });
  t.after(() => client.close());
  assert.equal(client.serverHello?.idleTimeoutMs, 150);
  const states = recordStates(client, connectedAt);
  assert.equal(silent.handshakes(), 1);

  // A request to a silent server fails when the link is declared dead, not at its own timeout.
  const pending = client.request(Echo, { text: "anyone?" }, { timeoutMs: 10_000 }).then(
    () => "resolved",
    (err: unknown) => err,
  );
  await waitFor(() => client.state === "reconnecting", 2000, "the client to drop the silent link");
  const droppedAt = states[0]?.at ?? -1;
  assert.ok(droppedAt >= 140 && droppedAt < 1000, `dropped after ${droppedAt} ms (idle timeout 150 ms)`);
  assert.ok(isClosedError(await pending));

  // It reconnects (and handshakes) again; the server is still silent, so it keeps cycling.
  await waitFor(() => silent.handshakes() >= 2, 2000, "a second handshake");
  await waitFor(() => client.state === "open", 2000, "open again");
  await waitFor(() => states.filter((s) => s.state === "reconnecting").length >= 2, 2000, "a second drop");
});

test("the client answers server heartbeats: an idle client stays connected", async (t) => {
  const node = await startNode({ tcp: [{ port: 0 }], ws: [{ port: 0 }], limits: { heartbeatMs: 50, idleTimeoutMs: 200 } }, [echoApp]);
  t.after(() => node.stop());
  const tcp = await connect(`tcp://127.0.0.1:${portOf(node, "tcp")}`, { reconnect: false });
  t.after(() => tcp.close());
  const ws = await connect(`ws://127.0.0.1:${portOf(node, "ws")}/`, { reconnect: false });
  t.after(() => ws.close());
  const kicks: number[] = [];
  for (const client of [tcp, ws]) client.onKick((k) => kicks.push(k.code));
  const states = [recordStates(tcp), recordStates(ws)];

  await sleep(1000); // five idle timeouts without a request
  assert.deepEqual(kicks, []);
  assert.deepEqual(states, [[], []]);
  for (const client of [tcp, ws]) {
    assert.equal(client.state, "open");
    assert.deepEqual(await client.request(Echo, { text: "awake" }), { text: "awake" });
  }
  assert.equal(node.stats.connections, 2);
});

test("a client that only sends notifies is not mistaken for a dead link", async (t) => {
  // The server hears from this client all the time, so it has no reason to send heartbeats;
  // the client still must not declare the server dead for being quiet.
  const node = await startNode({ tcp: [{ port: 0 }], limits: { heartbeatMs: 50, idleTimeoutMs: 200 } }, [echoApp]);
  t.after(() => node.stop());
  const client = await connect(`tcp://127.0.0.1:${portOf(node, "tcp")}`, { reconnect: false });
  t.after(() => client.close());
  const states = recordStates(client);
  const until = Date.now() + 800;
  let n = 0;
  while (Date.now() < until) {
    assert.equal(client.notify(Record_, { n: n++ }), true, `notify ${n} while ${client.state}`);
    await sleep(15);
  }
  assert.deepEqual(states, []);
  assert.deepEqual(await client.request(Echo, { text: "still open" }), { text: "still open" });
});
