/**
 * Link lifecycle over real sockets: what happens to pending calls when a peer dies, reconnect
 * after a root restart, a child replacing its old link, re-pointing, liveness, graceful close,
 * and several roots and remotes in one process.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { KickCode, RootClient, RpcError, RpcErrorCode, service, type LinkCloseInfo, type RootClientState } from "../../src/index.ts";
import { captureLogger } from "../helpers.ts";
import { logged, rpcError, silentRoot, sleep, startRemote, startRoot, timed, waitFor } from "./helpers.ts";

const Hang = service<[], never>("hang");
const Echo = service<[value: unknown], unknown>("echo");
const Whoami = service<[], string>("whoami");
const Slow = service<[ms: number], string>("slow");

const isCode = (outcome: { error?: unknown }, code: number): boolean => outcome.error instanceof RpcError && outcome.error.code === code;

test("calls pending on a root whose process is killed reject with LinkClosed at once, not at their timeout", async (t) => {
  const script = fileURLToPath(new URL("./root-process.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", script, "gate"], { stdio: ["ignore", "pipe", "inherit"] });
  t.after(() => child.kill("SIGKILL"));
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes("\n")) resolve((JSON.parse(out.split("\n")[0] as string) as { port: number }).port);
    });
    child.once("exit", (code) => reject(new Error(`root process exited with ${code}`)));
  });
  const { remote } = await startRemote(t, port, { timeoutMs: 10_000 });
  assert.equal(await remote.call(Echo, "alive"), "alive");

  const pending = [timed(remote.call(Hang)), timed(remote.call(Hang))];
  await sleep(20);
  child.kill("SIGKILL");
  for (const outcome of await Promise.all(pending)) {
    assert.ok(isCode(outcome, RpcErrorCode.LinkClosed), String(outcome.error));
    assert.ok(outcome.ms < 2000, `rejected after ${outcome.ms} ms; the timeout was 10 s`);
  }
  assert.equal(remote.stats.pending, 0);
  assert.notEqual(remote.state, "open");
});

test("when a link's socket is destroyed, calls pending at both ends reject at once", async (t) => {
  const { root, port } = await startRoot(t);
  root.services.handle(Hang, () => new Promise<never>(() => {}));
  const { remote } = await startRemote(t, port, { timeoutMs: 10_000 });
  remote.services.handle(Hang, () => new Promise<never>(() => {}));
  await waitFor(() => root.children().length === 1);

  const fromChild = timed(remote.call(Hang));
  const fromRoot = timed(root.callChild("game1", Hang));
  await sleep(20);
  (root.child("game1") ?? assert.fail("no link")).destroy("test kills the socket");
  const [child, parent] = await Promise.all([fromChild, fromRoot]);
  assert.ok(isCode(child, RpcErrorCode.LinkClosed), String(child.error));
  assert.ok(isCode(parent, RpcErrorCode.LinkClosed), String(parent.error));
  assert.match((parent.error as RpcError).message, /test kills the socket/);
  assert.ok(child.ms < 1000 && parent.ms < 1000, `took ${child.ms} / ${parent.ms} ms; the timeout was 10 s`);
});

test("calls pending when the root stops reject at once; the remote reconnects to a root restarted on the same port", async (t) => {
  const first = await startRoot(t);
  first.root.services.handle(Hang, () => new Promise<never>(() => {}));
  first.root.services.handle(Whoami, () => "first");
  const port = first.port;
  const { remote, lines } = await startRemote(t, port, { timeoutMs: 10_000 });
  const states: RootClientState[] = [];
  remote.onStateChange((s) => states.push(s));
  assert.equal(await remote.call(Whoami), "first");

  const pending = timed(remote.call(Hang));
  await sleep(20);
  await first.root.close();
  const outcome = await pending;
  assert.ok(isCode(outcome, RpcErrorCode.LinkClosed), String(outcome.error));
  assert.ok(outcome.ms < 1000, `rejected after ${outcome.ms} ms`);
  assert.match((outcome.error as RpcError).message, /root gate is shutting down/);
  await waitFor(() => remote.state === "reconnecting", 2000, "reconnecting");
  await sleep(150); // a few attempts fail against the closed port

  const second = await startRoot(t, { port });
  second.root.services.handle(Whoami, () => "second");
  await waitFor(() => remote.state === "open", 3000, "the remote to come back by itself");
  assert.equal(await remote.call(Whoami), "second");
  assert.deepEqual(second.root.children(), ["game1"]);
  assert.deepEqual(states, ["reconnecting", "open"]);
  assert.equal(remote.stats.opens, 2);
  await logged(lines, /re-linked to root/);
});

test("a child reconnecting under the same name replaces its old link", async (t) => {
  const { root, port, lines } = await startRoot(t);
  root.services.handle(Hang, () => new Promise<never>(() => {}));
  const events: string[] = [];
  root.onChildConnected((name, link) => events.push(`connected ${name} ${link.remoteAddress}`));
  root.onChildLost((name, info: LinkCloseInfo) => events.push(`lost ${name} ${info.code}`));

  const { remote: old } = await startRemote(t, port, { name: "game1" });
  old.services.handle(Whoami, () => "old");
  old.services.handle(Hang, () => new Promise<never>(() => {}));
  await waitFor(() => root.children().length === 1);
  const oldPendingAtRoot = timed(root.callChild("game1", Hang));
  const oldPendingAtChild = timed(old.call(Hang));
  await sleep(20);

  const { remote: fresh } = await startRemote(t, port, { name: "game1" });
  fresh.services.handle(Whoami, () => "new");
  await waitFor(() => events.length === 3, 2000, "three events");
  assert.deepEqual(root.children(), ["game1"]);
  assert.equal(await root.callChild("game1", Whoami), "new");
  assert.match(events[0] as string, /^connected game1 /);
  assert.equal(events[1], `lost game1 ${KickCode.Kicked}`);
  assert.match(events[2] as string, /^connected game1 /);
  assert.notEqual(events[0], events[2], "a different socket");
  for (const outcome of await Promise.all([oldPendingAtRoot, oldPendingAtChild])) {
    assert.ok(isCode(outcome, RpcErrorCode.LinkClosed), String(outcome.error));
    assert.ok(outcome.ms < 1000);
  }
  // The replaced process is told it was replaced and does not push the new one out again.
  await waitFor(() => old.state === "idle", 2000, "the old remote to give up");
  await sleep(150);
  assert.equal(fresh.state, "open");
  assert.equal(events.length, 3);
  await logged(lines, /child replaced by a new link/);
});

test("two roots and several remotes in one process", async (t) => {
  const gate = await startRoot(t, { name: "gate" });
  const world = await startRoot(t, { name: "world" });
  for (const { root } of [gate, world]) root.services.handle(Whoami, (_args, ctx) => `${root.name} hears ${ctx.peer}`);
  const names = ["game1", "game2", "game3"];
  const remotes: RootClient[] = [];
  for (const name of names) {
    for (const { port } of [gate, world]) {
      const { remote } = await startRemote(t, port, { name });
      remote.services.handle(Whoami, (_args, ctx) => `${name} hears ${ctx.peer}`);
      remotes.push(remote);
    }
  }
  await waitFor(() => gate.root.children().length === 3 && world.root.children().length === 3);
  const fromChildren = await Promise.all(remotes.map((r) => r.call(Whoami)));
  assert.deepEqual(fromChildren, ["gate hears game1", "world hears game1", "gate hears game2", "world hears game2", "gate hears game3", "world hears game3"]);
  for (const { root } of [gate, world]) {
    const replies = await Promise.all(names.map((n) => root.callChild(n, Whoami)));
    assert.deepEqual(replies, names.map((n) => `${n} hears ${root.name}`));
  }
  // Closing one root leaves the other's links alone.
  await world.root.close();
  await waitFor(() => remotes.filter((r) => r.state === "reconnecting").length === 3);
  assert.deepEqual(await Promise.all(names.map((n) => gate.root.callChild(n, Whoami))), names.map((n) => `${n} hears gate`));
});

test("connect(host, port) re-points a remote; calls pending on the old link reject", async (t) => {
  const a = await startRoot(t, { name: "rootA" });
  const b = await startRoot(t, { name: "rootB" });
  a.root.services.handle(Hang, () => new Promise<never>(() => {}));
  b.root.services.handle(Whoami, () => "B");
  const { remote } = await startRemote(t, a.port);
  assert.equal(remote.root, "rootA");
  const pending = timed(remote.call(Hang));
  await remote.connect("127.0.0.1", a.port); // same target: nothing changes
  assert.equal(remote.stats.pending, 1);
  await remote.connect("127.0.0.1", b.port);
  assert.equal(remote.root, "rootB");
  assert.equal(await remote.call(Whoami), "B");
  assert.ok(isCode(await pending, RpcErrorCode.LinkClosed));
  await waitFor(() => a.root.children().length === 0, 2000, "the old root to drop the child");
  assert.deepEqual(b.root.children(), ["game1"]);
});

test("a remote started before its root keeps trying and links when the root comes up", async (t) => {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));

  const { logger } = captureLogger();
  const remote = new RootClient({ name: "game1", logger, reconnect: { initialDelayMs: 20, maxDelayMs: 50 } });
  t.after(() => remote.close());
  const first = await timed(remote.connect("127.0.0.1", port, { waitMs: 100 }));
  assert.ok(isCode(first, RpcErrorCode.NotConnected), String(first.error));
  assert.match((first.error as RpcError).message, /within 100 ms \(last failure: socket error: connect ECONNREFUSED/);
  assert.equal(remote.state, "reconnecting");

  const { root } = await startRoot(t, { port });
  root.services.handle(Whoami, () => "up");
  await waitFor(() => remote.state === "open", 3000, "the remote to link");
  assert.equal(await remote.call(Whoami), "up");
});

test("with reconnect: false a remote goes idle after a drop, and connect() links it again", async (t) => {
  const { root, port } = await startRoot(t);
  root.services.handle(Whoami, () => "root");
  const { remote } = await startRemote(t, port, { reconnect: false });
  (root.child("game1") ?? assert.fail("no link")).destroy();
  await waitFor(() => remote.state === "idle", 2000, "idle");
  await sleep(100);
  assert.equal(remote.state, "idle");
  await assert.rejects(remote.call(Whoami), rpcError(RpcErrorCode.NotConnected, /idle/));
  await remote.connect("127.0.0.1", port);
  assert.equal(await remote.call(Whoami), "root");
});

test("graceful close: handlers running for the peer finish; new calls meanwhile get ShuttingDown", async (t) => {
  const { root, port } = await startRoot(t);
  root.services.handle(Slow, async ([ms]) => {
    await sleep(ms);
    return "finished";
  });
  const { remote } = await startRemote(t, port);
  const running = timed(remote.call(Slow, 150));
  await sleep(30);
  const closing = root.close({ deadlineMs: 2000 });
  await sleep(10);
  await assert.rejects(remote.call(Slow, 1), rpcError(RpcErrorCode.ShuttingDown));
  const outcome = await running;
  assert.equal(outcome.value, "finished");
  await closing;
  await waitFor(() => remote.state === "reconnecting");
});

test("heartbeats keep a quiet link open", async (t) => {
  const limits = { heartbeatMs: 40, idleTimeoutMs: 200 };
  const { root, port } = await startRoot(t, limits);
  root.services.handle(Whoami, () => "root");
  const { remote } = await startRemote(t, port, limits);
  await sleep(700); // three and a half idle timeouts without a call
  assert.equal(remote.state, "open");
  assert.equal(remote.stats.opens, 1);
  assert.equal(root.stats.children, 1);
  assert.equal(await remote.call(Whoami), "root");
});

test("a root that hangs (no heartbeats) is dropped after the idle timeout; its pending calls reject then", async (t) => {
  const { port } = await silentRoot(t, "hung", { heartbeatMs: 20 });
  const { remote, lines } = await startRemote(t, port, { heartbeatMs: 30, idleTimeoutMs: 150, timeoutMs: 10_000 });
  assert.equal(remote.root, "hung");
  const outcome = await timed(remote.call(Hang));
  assert.ok(isCode(outcome, RpcErrorCode.LinkClosed), String(outcome.error));
  assert.ok(outcome.ms >= 100 && outcome.ms < 1000, `rejected after ${outcome.ms} ms`);
  assert.match((outcome.error as RpcError).message, /nothing heard from the peer/);
  await logged(lines, /link to root lost/);
});
