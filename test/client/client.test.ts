/**
 * Client SDK against a real Node on loopback: typed requests over tcp:// and ws://, timeouts,
 * server errors, notifies, pushes, kicks, the pending bound and connect failures.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { CommandError, ErrorCode, KickCode, command, connect, push, type Client, type KickBody } from "../../src/client/index.ts";
import type { Node } from "../../src/index.ts";
import { portOf, sleep, startNode, waitFor } from "../helpers.ts";

const Echo = command<{ text: string }, { text: string }>(1, { name: "echo" });
const Add = command<{ a: number; b: number }, { sum: number }>(2, { name: "add" });
const Hang = command<undefined, string>(3, { name: "hang" });
const Refuse = command<{ code: number }, never>(4, { name: "refuse" });
const Record_ = command<{ value: string }, undefined>(5, { name: "record" });
const Subscribe = command<undefined, { id: number }>(6, { name: "subscribe" });
const KickMe = command<{ reason: string }, undefined>(7, { name: "kick-me" });
const Deferred = command<undefined, string>(8, { name: "deferred" });
const Nobody = command<undefined, undefined>(999, { name: "nobody-handles-this" });
const Tick = push<{ n: number }>(100, { name: "tick" });

/** Handlers shared by the tests below; `state` records side effects. */
function apps(state: { recorded: string[]; release: Array<(value: string) => void> }) {
  return [
    (node: Node) => {
      node.commands.handle(Echo, (req) => ({ text: req.text }));
      node.commands.handle(Add, ({ a, b }) => ({ sum: a + b }));
      node.commands.handle(Hang, () => new Promise<string>(() => {}));
      node.commands.handle(Refuse, ({ code }) => {
        throw new CommandError(code, `refused with ${code}`);
      });
      node.commands.handle(Record_, ({ value }) => {
        state.recorded.push(value);
        return undefined;
      });
      node.commands.handle(Subscribe, (_req, client) => ({ id: client.id }));
      node.commands.handle(KickMe, ({ reason }, client) => {
        client.kick(reason);
        return undefined;
      });
      node.commands.handle(Deferred, () => new Promise<string>((resolve) => state.release.push(resolve)));
    },
  ];
}

async function withNode(fn: (node: Node, state: { recorded: string[]; release: Array<(value: string) => void> }) => Promise<void>): Promise<void> {
  const state = { recorded: [] as string[], release: [] as Array<(value: string) => void> };
  const node = await startNode({ tcp: [{ port: 0 }], ws: [{ port: 0 }], stopDeadlineMs: 200 }, apps(state));
  try {
    await fn(node, state);
  } finally {
    await node.stop({ deadlineMs: 200 });
  }
}

/** Connect and register the client for closing when the test ends. */
async function open(t: { after(fn: () => void): void }, url: string, options?: Parameters<typeof connect>[1]): Promise<Client> {
  const client = await connect(url, options);
  t.after(() => client.close());
  return client;
}

const tcpUrl = (node: Node) => `tcp://127.0.0.1:${portOf(node, "tcp")}`;
const wsUrl = (node: Node) => `ws://127.0.0.1:${portOf(node, "ws")}/`;

for (const [scheme, url] of [
  ["tcp", tcpUrl],
  ["ws", wsUrl],
] as const) {
  test(`typed request/reply over ${scheme}://`, async (t) => {
    await withNode(async (node) => {
      const client = await open(t, url(node));
      assert.equal(client.state, "open");
      assert.equal(client.serverHello?.protocol, 1);
      const echoed: { text: string } = await client.request(Echo, { text: `hello ${scheme}` });
      assert.deepEqual(echoed, { text: `hello ${scheme}` });
      const added: { sum: number } = await client.request(Add, { a: 2, b: 40 });
      assert.equal(added.sum, 42);
      // Many at once: replies are correlated by id, not by order.
      const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => client.request(Add, { a: i, b: 1000 })));
      assert.deepEqual(
        replies.map((r) => r.sum),
        Array.from({ length: 50 }, (_, i) => i + 1000),
      );
      assert.equal(client.pendingRequests, 0);
      client.close();
      assert.equal(client.state, "closed");
    });
  });
}

test("a request with no reply rejects with Timeout; a late reply is ignored", async (t) => {
  await withNode(async (node, state) => {
    const errors: unknown[] = [];
    const client = await open(t, tcpUrl(node), { onListenerError: (e) => errors.push(e) });
    const started = Date.now();
    await assert.rejects(client.request(Hang, undefined, { timeoutMs: 80 }), (err: unknown) => {
      assert.ok(err instanceof CommandError);
      assert.equal(err.code, ErrorCode.Timeout);
      return true;
    });
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 70 && elapsed < 1000, `timed out after ${elapsed} ms`);
    assert.equal(client.pendingRequests, 0);

    // A reply that arrives after its request timed out.
    await assert.rejects(client.request(Deferred, undefined, { timeoutMs: 50 }), (err: unknown) => err instanceof CommandError && err.code === ErrorCode.Timeout);
    await waitFor(() => state.release.length === 1, 2000, "the deferred handler to run");
    state.release[0]?.("too late");
    await sleep(50);
    // The connection survived and the next request gets its own reply, not the stale one.
    assert.equal(client.state, "open");
    assert.deepEqual(await client.request(Echo, { text: "after" }), { text: "after" });
    assert.deepEqual(errors, []);
    // The default timeout comes from the client options.
    const quick = await open(t, tcpUrl(node), { requestTimeoutMs: 60 });
    await assert.rejects(quick.request(Hang, undefined), (err: unknown) => err instanceof CommandError && err.code === ErrorCode.Timeout);
  });
});

test("a CommandError thrown by a handler arrives with its code and message; unknown commands get UnknownCommand", async (t) => {
  await withNode(async (node) => {
    const client = await open(t, tcpUrl(node));
    await assert.rejects(client.request(Refuse, { code: 1234 }), (err: unknown) => {
      assert.ok(err instanceof CommandError);
      assert.equal(err.code, 1234);
      assert.equal(err.message, "refused with 1234");
      return true;
    });
    await assert.rejects(client.request(Nobody, undefined), (err: unknown) => {
      assert.ok(err instanceof CommandError);
      assert.equal(err.code, ErrorCode.UnknownCommand);
      assert.match(err.message, /unknown command 999/);
      return true;
    });
    // Errors do not break the connection.
    assert.deepEqual(await client.request(Echo, { text: "still here" }), { text: "still here" });
  });
});

test("notify runs the handler and returns true; false when not connected", async (t) => {
  await withNode(async (node, state) => {
    const client = await open(t, wsUrl(node));
    assert.equal(client.notify(Record_, { value: "one" }), true);
    assert.equal(client.notify(Record_, { value: "two" }), true);
    await waitFor(() => state.recorded.length === 2, 2000, "both notifies to run");
    assert.deepEqual(state.recorded, ["one", "two"]);
    client.close();
    assert.equal(client.notify(Record_, { value: "three" }), false);
    await sleep(50);
    assert.deepEqual(state.recorded, ["one", "two"]);
  });
});

test("push listeners receive pushes until they unsubscribe", async (t) => {
  await withNode(async (node) => {
    const client = await open(t, tcpUrl(node));
    const got: number[] = [];
    const other: number[] = [];
    const off = client.on(Tick, (m) => got.push(m.n));
    client.on(Tick, (m) => other.push(m.n));
    const { id } = await client.request(Subscribe, undefined);

    assert.equal(node.push(id, Tick, { n: 1 }), true);
    const ctx = node.client(id);
    assert.ok(ctx);
    assert.equal(ctx.push(Tick, { n: 2 }), true);
    await waitFor(() => got.length === 2, 2000, "two pushes");
    assert.deepEqual(got, [1, 2]);

    off();
    node.push(id, Tick, { n: 3 });
    await waitFor(() => other.length === 3, 2000, "the third push on the other listener");
    assert.deepEqual(got, [1, 2], "an unsubscribed listener gets nothing more");
    assert.deepEqual(other, [1, 2, 3]);
  });
});

test("a kick from a handler reaches the kick listener and closes the client for good", async (t) => {
  await withNode(async (node) => {
    const client = await open(t, tcpUrl(node), { reconnect: { initialDelayMs: 10, maxDelayMs: 20 } });
    const kicks: KickBody[] = [];
    const states: string[] = [];
    client.onKick((k) => kicks.push(k));
    client.onStateChange((s) => states.push(s));
    await assert.rejects(client.request(KickMe, { reason: "cheating" }), (err: unknown) => err instanceof CommandError && err.code === ErrorCode.ConnectionClosed);
    await waitFor(() => client.state === "closed", 2000, "the client to close");
    assert.deepEqual(kicks, [{ code: KickCode.Kicked, reason: "cheating" }]);
    // Kicked is not retryable: no reconnect attempt, even with reconnect on.
    await sleep(100);
    assert.deepEqual(states, ["closed"]);
    assert.equal(node.stats.connections, 0);
  });
});

test("maxPending bounds the requests waiting for replies", async (t) => {
  await withNode(async (node) => {
    const client = await open(t, tcpUrl(node), { maxPending: 2 });
    const first = client.request(Hang, undefined);
    const second = client.request(Hang, undefined);
    const settled = Promise.allSettled([first, second]);
    assert.equal(client.pendingRequests, 2);
    await assert.rejects(client.request(Echo, { text: "third" }), (err: unknown) => {
      assert.ok(err instanceof CommandError);
      assert.equal(err.code, ErrorCode.TooManyPending);
      return true;
    });
    client.close();
    const results = await settled;
    for (const r of results) {
      assert.equal(r.status, "rejected");
      assert.ok(r.reason instanceof CommandError && r.reason.code === ErrorCode.ConnectionClosed);
    }
    assert.equal(client.pendingRequests, 0);
  });
});

test("connect to a closed port rejects; unsupported schemes throw", async () => {
  // Take an ephemeral port, then free it so nothing listens there.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === "object");
  await new Promise<void>((resolve) => server.close(() => resolve()));

  await assert.rejects(connect(`tcp://127.0.0.1:${address.port}`, { connectTimeoutMs: 2000 }), /cannot connect/);
  await assert.rejects(connect(`ws://127.0.0.1:${address.port}/`, { connectTimeoutMs: 2000 }), /cannot connect/);
  await assert.rejects(connect(`http://127.0.0.1:${address.port}/`), /unsupported URL scheme "http:"/);
  await assert.rejects(connect("not a url"), TypeError);
});
