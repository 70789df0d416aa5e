/**
 * Built-in forwarding in one process, over real loopback links: net → gate → game1 and back,
 * pushes down the same path, disconnects announced upwards, and failures as typed errors.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { command, decodeControl, defineApp, ErrorCode, MessageType, Node, push, routers, type ClientRef, type ErrorBody, CommandError } from "../../src/index.ts";
import { connect, type Client } from "../../src/client/index.ts";
import { captureLogger, portOf, sleep, waitFor } from "../helpers.ts";
import { rawPeer } from "../rpc/helpers.ts";

const AtNet = command<string, string>(100);
const AtGate = command<string, string>(200);
const AtGame = command<string, { by: string; text: string }>(300);
const Hang = command<unknown, never>(301);
const Refuse = command<unknown, never>(302);
const Toast = push<string>(900);

async function cluster(options: { games?: number; rpcTimeoutMs?: number; netGraceMs?: number } = {}) {
  const quiet = () => captureLogger().logger;
  const routeTo = Array.from({ length: options.games ?? 1 }, (_, i) => `game${i + 1}`);
  const gate = new Node({ config: { name: "gate" }, logger: quiet(), cluster: { root: { host: "127.0.0.1", port: 0 }, routeTo, netGraceMs: options.netGraceMs }, apps: [defineApp((n) => n.commands.handle(AtGate, (t) => `gate:${t}`))] });
  await gate.start();
  const rootPort = gate.root!.address!.port;
  const link = { rootName: "gate", host: "127.0.0.1", port: rootPort };
  const games: Node[] = [];
  const gone: ClientRef[] = [];
  for (let i = 1; i <= (options.games ?? 1); i++) {
    const name = `game${i}`;
    const game = new Node({
      config: { name },
      logger: quiet(),
      cluster: { links: [link], timeoutMs: options.rpcTimeoutMs },
      apps: [
        defineApp((n) => {
          n.commands.handle(AtGame, (text, client) => {
            client.push(Toast, `hello from ${name}`);
            return { by: name, text };
          });
          n.commands.handle(Hang, () => new Promise<never>(() => {}));
          n.commands.handle(Refuse, () => {
            throw new CommandError(1500, "not in this zone");
          });
          n.onClientGone((c) => gone.push(c));
        }),
      ],
    });
    await game.start();
    games.push(game);
  }
  const startNet = async () => {
    const node = new Node({
      config: { name: "net", tcp: [{ port: 0 }] },
      logger: quiet(),
      cluster: { links: [link], forward: { to: "gate", ranges: [[200, 399]] }, timeoutMs: options.rpcTimeoutMs },
      apps: [defineApp((n) => n.commands.handle(AtNet, (t) => `net:${t}`))],
    });
    await node.start();
    return node;
  };
  const net = await startNet();
  await waitFor(() => gate.root!.children().length === games.length + 1, 5000, "every node to join the gate");
  const stop = async () => {
    await net.stop();
    for (const g of games) await g.stop();
    await gate.stop();
  };
  return { gate, games, net, gone, stop, startNet, url: `tcp://127.0.0.1:${portOf(net, "tcp")}` };
}

test("commands 100, 200 and 300 are answered by net, gate and game1; a push comes back down", async () => {
  const c = await cluster();
  const client = await connect(c.url, { reconnect: false });
  try {
    const toasts: string[] = [];
    client.on(Toast, (t) => toasts.push(t));
    assert.equal(await client.request(AtNet, "a"), "net:a");
    assert.equal(await client.request(AtGate, "b"), "gate:b");
    assert.deepEqual(await client.request(AtGame, "c"), { by: "game1", text: "c" });
    await waitFor(() => toasts.length === 1);
    assert.deepEqual(toasts, ["hello from game1"]);
    // Outside the forwarded ranges: unknown at the net node itself.
    await assert.rejects(client.request(command(999), null), (e: CommandError) => e.code === ErrorCode.UnknownCommand);
    // Inside the ranges but handled nowhere: unknown at the game node, answered through the gate.
    await assert.rejects(client.request(command(350), null), (e: CommandError) => e.code === ErrorCode.UnknownCommand);
    await assert.rejects(client.request(Refuse, null), (e: CommandError) => e.code === 1500 && e.message === "not in this zone");
  } finally {
    client.close();
    await c.stop();
  }
});

test("a client's disconnect is announced to the node that handled it", async () => {
  const c = await cluster();
  try {
    const client = await connect(c.url, { reconnect: false });
    await client.request(AtGame, "x");
    client.close();
    await waitFor(() => c.gone.length === 1, 3000, "the disconnect notice");
    assert.equal(c.gone[0]!.net, "net");
  } finally {
    await c.stop();
  }
});

test("routing: sticky by default, round-robin and hash built in", async () => {
  const c = await cluster({ games: 3 });
  const clients: Client[] = [];
  try {
    for (let i = 0; i < 3; i++) clients.push(await connect(c.url, { reconnect: false }));
    const by = async (cl: Client) => (await cl.request(AtGame, "?")).by;
    const first = await Promise.all(clients.map(by));
    assert.equal(new Set(first).size, 3, "new clients are spread over the children");
    assert.deepEqual(await Promise.all(clients.map(by)), first, "and each sticks to its child");
    c.gate.setRouter(routers.roundRobin());
    const rr = [await by(clients[0]!), await by(clients[0]!), await by(clients[0]!)];
    assert.equal(new Set(rr).size, 3);
    c.gate.setRouter(routers.hash());
    const h = await by(clients[1]!);
    for (let i = 0; i < 5; i++) assert.equal(await by(clients[1]!), h);
  } finally {
    for (const cl of clients) cl.close();
    await c.stop();
  }
});

test("a forwarded request times out with a typed error, and a dead game node fails fast", async () => {
  const c = await cluster({ rpcTimeoutMs: 300 });
  const client = await connect(c.url, { reconnect: false, requestTimeoutMs: 5000 });
  try {
    const started = Date.now();
    await assert.rejects(client.request(Hang, null), (e: CommandError) => e.code === ErrorCode.Timeout);
    assert.ok(Date.now() - started < 2000);
    const hanging = client.request(Hang, null).catch((e: unknown) => e as CommandError);
    await sleep(50);
    const t0 = Date.now();
    await c.games[0]!.stop({ deadlineMs: 10 });
    const err = await hanging;
    assert.ok(err instanceof CommandError && err.code === ErrorCode.Unavailable, `got ${String(err)}`);
    assert.ok(Date.now() - t0 < 1000, "pending calls on a dropped link fail at once");
    await assert.rejects(client.request(AtGame, "after"), (e: CommandError) => e.code === ErrorCode.Unavailable);
    assert.equal(await client.request(AtGate, "still"), "gate:still", "the rest of the cluster is unaffected");
  } finally {
    client.close();
    await c.stop();
  }
});

test("a net node's link that drops and comes back keeps its clients; past the grace period they are gone", async () => {
  const c = await cluster({ netGraceMs: 300 });
  const atGate: ClientRef[] = [];
  c.gate.onClientGone((client) => atGate.push(client));
  const routed = await connect(c.url, { reconnect: false });
  const local = await connect(c.url, { reconnect: false });
  try {
    await routed.request(AtGame, "x"); // handled by game1
    await local.request(AtGate, "y"); // handled by the gate itself
    c.gate.root!.child("net")!.destroy("test: the link drops");
    await waitFor(() => c.net.remote("gate")!.isOpen && c.gate.root!.children().includes("net"), 5000, "the net node to re-link");
    await sleep(450);
    assert.equal(c.gone.length, 0, "the same net node came back within the grace period: its clients are still there");
    assert.deepEqual((await routed.request(AtGame, "again")).by, "game1");
    // Now the net node's link goes away for good (as if it hung): after the grace period its
    // clients count as gone, on the game node that owned one and on the gate that saw both.
    const lostAt = Date.now();
    await c.net.remote("gate")!.close();
    await waitFor(() => c.gone.length === 1 && atGate.length === 2, 3000, "the disconnect notices");
    assert.ok(Date.now() - lostAt >= 250, "not before the grace period");
    assert.equal(c.gone[0]!.net, "net");
    assert.equal(new Set(atGate.map((g) => g.id)).size, 2, "the gate hears of both clients, routed or not");
    assert.ok(atGate.some((g) => g.id === c.gone[0]!.id));
  } finally {
    routed.close();
    local.close();
    await c.stop();
  }
});

test("a net node that restarted is recognised at once: its old clients are gone without waiting", async () => {
  const c = await cluster({ netGraceMs: 60_000 });
  const client = await connect(c.url, { reconnect: false });
  let next: Node | null = null;
  try {
    await client.request(AtGame, "x");
    // A crash: the link goes before the net node can announce anything.
    await c.net.remote("gate")!.close();
    await c.net.stop({ deadlineMs: 10 });
    assert.equal(c.gone.length, 0);
    next = await c.startNet();
    await waitFor(() => c.gone.length === 1, 3000, "the old client's disconnect notice");
    assert.equal(c.gone[0]!.net, "net");
  } finally {
    client.close();
    await next?.stop();
    await c.stop();
  }
});

test("a forged forwarding body is answered BadPayload and the gate keeps serving", async (t) => {
  const c = await cluster();
  try {
    const peer = await rawPeer(t, c.gate.root!.address!.port, "evil");
    peer.send({ type: MessageType.Request, id: 5, command: 1, body: new Uint8Array([0, 0, 0, 1, 0, 0]) });
    const reply = await peer.next((m) => m.id === 5);
    assert.equal(reply.type, MessageType.Error);
    assert.equal(decodeControl<ErrorBody>(reply.body, ["code"]).code, ErrorCode.BadPayload);
    peer.send({ type: MessageType.Notify, id: 0, command: 3, body: new Uint8Array([9]) }); // a push nobody can route: dropped
    const client = await connect(c.url, { reconnect: false });
    assert.deepEqual((await client.request(AtGame, "still")).by, "game1");
    client.close();
  } finally {
    await c.stop();
  }
});
