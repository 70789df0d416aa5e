/** The node runtime: command registry, replies and errors, pushes, graceful stop, several nodes per process. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { command, CommandError, defineApp, ErrorCode, KickCode, MessageType, Node, push, type ClientContext } from "../../src/index.ts";
import { captureLogger, json, portOf, RawClient, sleep, startNode, utf8, waitFor } from "../helpers.ts";

const Add = command<{ a: number; b: number }, { sum: number }>(2, { name: "add" });
const Fail = command<{ kind: string }, never>(3, { name: "fail" });
const Poke = command<{ target: number; text: string }, boolean>(4, { name: "poke" });
const Poked = push<{ text: string }>(200);

const app = defineApp((node) => {
  node.commands.handle(Add, ({ a, b }) => ({ sum: a + b }));
  node.commands.handle(Fail, ({ kind }) => {
    if (kind === "app") throw new CommandError(1234, "not enough gold");
    throw new Error("database password is hunter2");
  });
  node.commands.handle(Poke, async ({ target, text }) => {
    await sleep(1);
    return node.push(target, Poked, { text });
  });
});

function errorOf(body: Uint8Array): { code: number; message: string } {
  return json(body) as { code: number; message: string };
}

test("a handler's return value is the reply, on native TCP and on Firefly frames", async () => {
  const node = await startNode({ tcp: [{ port: 0 }, { port: 0, frame: "firefly" }] }, [app]);
  try {
    const native = await RawClient.open(portOf(node, "tcp", 0));
    native.request(41, 2, { a: 2, b: 40 });
    const reply = await native.next((m) => m.id === 41);
    assert.equal(reply.type, MessageType.Response);
    assert.equal(reply.command, 2);
    assert.deepEqual(json(reply.body), { sum: 42 });

    const firefly = await RawClient.open(portOf(node, "tcp", 1), { frame: "firefly" });
    firefly.request(0, 2, { a: 1, b: 1 });
    const ff = await firefly.next();
    assert.equal(ff.command, 2); // Firefly clients match replies by command id
    assert.deepEqual(json(ff.body), { sum: 2 });
    native.close();
    firefly.close();
  } finally {
    await node.stop();
  }
});

test("a throwing handler answers an error and the connection stays open; internals are not leaked", async () => {
  const { logger, lines } = captureLogger();
  const node = await startNode({ tcp: [{ port: 0 }, { port: 0, frame: "firefly" }] }, [app], logger);
  try {
    const c = await RawClient.open(portOf(node, "tcp"));
    c.request(1, 3, { kind: "app" });
    const appError = await c.next((m) => m.id === 1);
    assert.equal(appError.type, MessageType.Error);
    assert.deepEqual(errorOf(appError.body), { code: 1234, message: "not enough gold" });

    c.request(2, 3, { kind: "bug" });
    const bug = errorOf((await c.next((m) => m.id === 2)).body);
    assert.equal(bug.code, ErrorCode.HandlerFailed);
    assert.doesNotMatch(bug.message, /hunter2/);
    assert.ok(lines.some((l) => l.includes("command handler failed") && l.includes("hunter2")), "the details are in the server log");

    c.request(3, 2, { a: 1, b: 2 });
    assert.equal((await c.next((m) => m.id === 3)).type, MessageType.Response);
    assert.equal(c.closed, false);

    // Firefly has no error frame: the error goes back under the command id as JSON.
    const ff = await RawClient.open(portOf(node, "tcp", 1), { frame: "firefly" });
    ff.request(0, 3, { kind: "app" });
    const ffError = await ff.next();
    assert.equal(ffError.command, 3);
    assert.deepEqual(errorOf(ffError.body), { code: 1234, message: "not enough gold" });
    c.close();
    ff.close();
  } finally {
    await node.stop();
  }
});

test("unknown commands and undecodable or invalid payloads answer errors", async () => {
  const Checked = command<{ n: number }, number>(6, {
    validate: (v): v is { n: number } => typeof v === "object" && v !== null && typeof (v as { n?: unknown }).n === "number",
  });
  const node = await startNode({ tcp: [{ port: 0 }] }, [app, defineApp((n) => n.commands.handle(Checked, ({ n: x }) => x * 2))]);
  try {
    const c = await RawClient.open(portOf(node, "tcp"));
    c.request(1, 777, undefined);
    assert.equal(errorOf((await c.next((m) => m.id === 1)).body).code, ErrorCode.UnknownCommand);
    c.send({ type: MessageType.Request, id: 2, command: 2, body: utf8("{broken") });
    assert.equal(errorOf((await c.next((m) => m.id === 2)).body).code, ErrorCode.BadPayload);
    c.send({ type: MessageType.Request, id: 3, command: 2, body: new Uint8Array([0xff, 0xfe]) });
    assert.equal(errorOf((await c.next((m) => m.id === 3)).body).code, ErrorCode.BadPayload);
    c.request(4, 6, { n: "seven" });
    assert.equal(errorOf((await c.next((m) => m.id === 4)).body).code, ErrorCode.BadPayload);
    c.request(5, 6, { n: 7 });
    assert.equal(json((await c.next((m) => m.id === 5)).body), 14);
    assert.equal(c.closed, false);
    c.close();
  } finally {
    await node.stop();
  }
});

test("a handler can push to any connection, across transports", async () => {
  const node = await startNode({ tcp: [{ port: 0 }, { port: 0, frame: "firefly" }] }, [app]);
  try {
    const sender = await RawClient.open(portOf(node, "tcp", 0));
    const receiver = await RawClient.open(portOf(node, "tcp", 1), { frame: "firefly" });
    await waitFor(() => node.stats.connections === 2);
    const receiverId = Math.max(...[...node.clients()].map((c) => c.id));
    sender.request(1, 4, { target: receiverId, text: "hello" });
    assert.equal(json((await sender.next((m) => m.id === 1)).body), true);
    const pushed = await receiver.next();
    assert.equal(pushed.command, 200);
    assert.deepEqual(json(pushed.body), { text: "hello" });
    sender.request(2, 4, { target: 9999, text: "nobody" });
    assert.equal(json((await sender.next((m) => m.id === 2)).body), false);
    sender.close();
    receiver.close();
  } finally {
    await node.stop();
  }
});

test("notify runs the handler without a reply; msgpack works per command and per node", async () => {
  let noted = "";
  const Note = command<string, void>(7);
  const Packed = command<{ xs: number[] }, { total: number }>(8, { codec: "msgpack" });
  const node = await startNode({ tcp: [{ port: 0 }], codec: "msgpack" }, [
    defineApp((n) => {
      n.commands.handle(Note, (text) => {
        noted = text;
      });
      n.commands.handle(Packed, ({ xs }) => ({ total: xs.reduce((a, b) => a + b, 0) }));
    }),
  ]);
  try {
    const { pack, unpack } = await import("msgpackr");
    const c = await RawClient.open(portOf(node, "tcp"));
    c.send({ type: MessageType.Notify, id: 0, command: 7, body: pack("noted!") });
    await waitFor(() => noted === "noted!");
    c.send({ type: MessageType.Request, id: 9, command: 8, body: pack({ xs: [1, 2, 3] }) });
    const reply = await c.next((m) => m.id === 9);
    assert.deepEqual(unpack(reply.body), { total: 6 });
    assert.equal(c.messages.length, 0, "the notify got no reply");
    c.close();
  } finally {
    await node.stop();
  }
});

test("a command has one handler: registering it twice throws", () => {
  const node = new Node({ config: { name: "dup" } });
  node.commands.handle(Add, () => ({ sum: 0 }));
  assert.throws(() => node.commands.handle(Add, () => ({ sum: 1 })), /already has a handler/);
});

test("graceful stop: refuses new connections, finishes in-flight requests, then kicks with ShuttingDown", async () => {
  const Slow = command<number, string>(9);
  const node = await startNode({ tcp: [{ port: 0 }] }, [
    defineApp((n) =>
      n.commands.handle(Slow, async (ms) => {
        await sleep(ms);
        return "finished";
      }),
    ),
  ]);
  const port = portOf(node, "tcp");
  const c = await RawClient.open(port);
  c.request(1, 9, 300);
  await waitFor(() => node.stats.inFlight === 1);
  const stopping = node.stop();
  await sleep(50);
  await assert.rejects(RawClient.open(port), /ECONNREFUSED/);
  c.request(2, 9, 0); // arrives while stopping
  const refused = await c.next((m) => m.id === 2);
  assert.equal(errorOf(refused.body).code, ErrorCode.ShuttingDown);
  const done = await c.next((m) => m.id === 1, 2000);
  assert.equal(json(done.body), "finished");
  const kick = await c.next((m) => m.type === MessageType.Kick);
  assert.equal((json(kick.body) as { code: number }).code, KickCode.ShuttingDown);
  await stopping;
  await c.waitClosed();
});

test("graceful stop keeps its deadline when a handler never finishes", async () => {
  const Hang = command<unknown, never>(10);
  const node = await startNode({ tcp: [{ port: 0 }], stopDeadlineMs: 300 }, [defineApp((n) => n.commands.handle(Hang, () => new Promise<never>(() => {})))]);
  const c = await RawClient.open(portOf(node, "tcp"));
  c.request(1, 10, undefined);
  await waitFor(() => node.stats.inFlight === 1);
  const started = Date.now();
  await node.stop();
  const took = Date.now() - started;
  assert.ok(took >= 250 && took < 1500, `stop took ${took} ms with a 300 ms deadline`);
  await c.waitClosed();
});

test("two nodes run side by side in one process with their own commands and clients", async () => {
  const Who = command<unknown, string>(1);
  const named = (name: string) => defineApp((n) => n.commands.handle(Who, (_req, client: ClientContext) => `${name}:${client.id}`));
  const a = await startNode({ name: "a", tcp: [{ port: 0 }] }, [named("a")]);
  const b = await startNode({ name: "b", tcp: [{ port: 0 }] }, [named("b")]);
  try {
    const ca = await RawClient.open(portOf(a, "tcp"));
    const cb = await RawClient.open(portOf(b, "tcp"));
    ca.request(1, 1, undefined);
    cb.request(1, 1, undefined);
    assert.equal(json((await ca.next()).body), "a:1");
    assert.equal(json((await cb.next()).body), "b:1");
    await a.stop();
    cb.request(2, 1, undefined);
    assert.equal(json((await cb.next()).body), "b:1", "stopping one node leaves the other serving");
    ca.close();
    cb.close();
  } finally {
    await a.stop();
    await b.stop();
  }
});

test("a node refuses to start twice and reports a port already in use", async () => {
  const a = await startNode({ tcp: [{ port: 0 }] });
  try {
    await assert.rejects(a.start(), /cannot start/);
    const clash = new Node({ config: { name: "clash", tcp: [{ port: portOf(a, "tcp") }] }, logger: captureLogger().logger });
    await assert.rejects(clash.start(), /EADDRINUSE/);
  } finally {
    await a.stop();
  }
});
