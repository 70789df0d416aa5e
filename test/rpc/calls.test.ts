/**
 * Calls over a real root ↔ remote link on loopback: both directions, notifies, typed errors,
 * timeouts, the bounds on pending and in-flight calls, and the counters.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { CommandError, RpcError, RpcErrorCode, service } from "../../src/index.ts";
import { logged, rpcError, sleep, startRemote, startRoot, timed, waitFor } from "./helpers.ts";

const EnterScene = service<[sessionId: number, sceneId: number], { ok: boolean; scene: number; by: string }>("enterScene");
const Who = service<[], { name: string; peer: string }>("who");
const Echo = service<[value: unknown], unknown>("echo");
const Hang = service<[], never>("hang");
const Slow = service<[ms: number], string>("slow");
const Fail = service<[kind: "command" | "plain"], void>("fail");
const Record_ = service<[text: string], void>("record");
const Missing = service<[], void>("notRegistered");
const Checked = service<[n: number], number>("checked", { validate: (args): args is [number] => args.length === 1 && typeof args[0] === "number" });

test("a child calls the root and the root calls the child, with typed results", async (t) => {
  const { root, port } = await startRoot(t);
  root.services.handle(EnterScene, ([sessionId, sceneId], ctx) => ({ ok: sessionId === 42, scene: sceneId, by: ctx.peer }));
  root.services.handle(Echo, ([value]) => value);
  const { remote } = await startRemote(t, port, { name: "game1" });
  remote.services.handle(Who, (_args, ctx) => ({ name: "game1", peer: ctx.peer }));

  const reply = await remote.call(EnterScene, 42, 7);
  assert.deepEqual(reply, { ok: true, scene: 7, by: "game1" });
  const sample = { n: 1.5, s: "héllo", list: [1, "two", null], nested: { deep: true }, bytes: new Uint8Array([1, 2, 3]) };
  // Binary comes back as a Buffer (a Uint8Array) with the same bytes.
  assert.deepEqual(await remote.call(Echo, sample), { ...sample, bytes: Buffer.from([1, 2, 3]) });
  assert.equal(await remote.call(Echo, undefined), undefined);

  await waitFor(() => root.children().includes("game1"), 2000, "the child to register");
  assert.deepEqual(await root.callChild("game1", Who), { name: "game1", peer: "gate" });
  assert.deepEqual(await root.child("game1")?.call(Who), { name: "game1", peer: "gate" });
  assert.equal(remote.root, "gate");
  assert.equal(remote.state, "open");
});

test("a handler calls its caller back through ctx.link", async (t) => {
  const { root, port } = await startRoot(t);
  root.services.handle(Slow, async ([ms], ctx) => {
    const who = await ctx.link.call(Who);
    await sleep(ms);
    return `root asked ${who.name}`;
  });
  const { remote } = await startRemote(t, port);
  remote.services.handle(Who, () => ({ name: "game1", peer: "?" }));
  assert.equal(await remote.call(Slow, 1), "root asked game1");
});

test("notify reaches the handler in both directions and never replies", async (t) => {
  const { root, port } = await startRoot(t);
  const atRoot: string[] = [];
  const atChild: string[] = [];
  root.services.handle(Record_, ([text], ctx) => void atRoot.push(`${ctx.peer}:${text}`));
  const { remote } = await startRemote(t, port);
  remote.services.handle(Record_, ([text]) => void atChild.push(text));
  await waitFor(() => root.children().length === 1);

  assert.equal(remote.notify(Record_, "up"), true);
  assert.equal(root.notifyChild("game1", Record_, "down"), true);
  assert.equal(root.notifyChild("nobody", Record_, "lost"), false);
  await waitFor(() => atRoot.length === 1 && atChild.length === 1, 2000, "both notifies");
  assert.deepEqual(atRoot, ["game1:up"]);
  assert.deepEqual(atChild, ["down"]);
  assert.equal(remote.stats.notifies, 1);
  assert.equal(root.stats.served, 1);
  assert.equal(root.stats.pending, 0);

  await remote.close();
  assert.equal(remote.notify(Record_, "after close"), false);
});

test("a remote CommandError arrives with its code and message; the link stays open", async (t) => {
  const { root, port } = await startRoot(t);
  root.services.handle(Fail, () => {
    throw new CommandError(1001, "scene is full");
  });
  root.services.handle(Echo, ([v]) => v);
  const { remote } = await startRemote(t, port);
  await assert.rejects(remote.call(Fail, "command"), (err: unknown) => {
    assert.ok(err instanceof RpcError);
    assert.equal(err.code, 1001);
    assert.equal(err.message, "scene is full");
    assert.equal(err.remote, true);
    return true;
  });
  // An async handler rejecting with a CommandError is the same.
  remote.services.handle(Fail, () => Promise.reject(new CommandError(2002, "no such player")));
  await waitFor(() => root.children().length === 1);
  await assert.rejects(root.callChild("game1", Fail, "command"), rpcError(2002, /^no such player$/));
  assert.equal(await remote.call(Echo, "still open"), "still open");
});

test("a plain exception arrives as RemoteFailed without its message, which is logged on the callee", async (t) => {
  const { root, port, lines } = await startRoot(t);
  root.services.handle(Fail, async ([kind]) => {
    await sleep(1);
    if (kind === "plain") throw new Error("password=hunter2 in /srv/secret.sql");
  });
  const { remote } = await startRemote(t, port);
  const outcome = await timed(remote.call(Fail, "plain"));
  assert.ok(outcome.error instanceof RpcError);
  assert.equal(outcome.error.code, RpcErrorCode.RemoteFailed);
  assert.equal(outcome.error.remote, true);
  assert.doesNotMatch(outcome.error.message, /hunter2|secret/);
  assert.match(outcome.error.message, /service "fail" failed on node gate/);
  const line = await logged(lines, /service handler failed/);
  assert.match(line, /hunter2/);
  assert.match(line, /service=fail/);
  assert.equal(root.stats.serveErrors, 1);
});

test("an unknown service answers UnknownService; failed validation answers BadPayload", async (t) => {
  const { root, port } = await startRoot(t);
  let ran = 0;
  root.services.handle(Checked, ([n]) => {
    ran++;
    return n * 2;
  });
  const { remote } = await startRemote(t, port);
  await assert.rejects(remote.call(Missing), rpcError(RpcErrorCode.UnknownService, /no service "notRegistered"/));
  assert.equal(await remote.call(Checked, 21), 42);
  // A caller that bypasses the types (e.g. another language) is stopped by the validator.
  const untyped = Checked as unknown as typeof Echo;
  await assert.rejects(remote.call(untyped, "21"), rpcError(RpcErrorCode.BadPayload, /validator/));
  assert.equal(ran, 1);
});

test("a call without a reply rejects with Timeout at its deadline; a late reply is ignored and nothing leaks", async (t) => {
  const { root, port } = await startRoot(t);
  root.services.handle(Hang, () => new Promise<never>(() => {}));
  root.services.handle(Slow, async ([ms]) => {
    await sleep(ms);
    return "late";
  });
  const { remote } = await startRemote(t, port, { timeoutMs: 150 });

  const hang = await timed(remote.call(Hang));
  assert.ok(hang.error instanceof RpcError && hang.error.code === RpcErrorCode.Timeout, String(hang.error));
  assert.ok(hang.ms >= 140 && hang.ms < 600, `timed out after ${hang.ms} ms, expected ~150`);
  assert.match(hang.error.message, /hang: no reply from gate within 150 ms/);

  const slow = await timed(remote.call(Slow, 300));
  assert.equal((slow.error as RpcError).code, RpcErrorCode.Timeout);
  assert.equal(remote.stats.pending, 0, "a timed-out call leaves the pending table");
  await waitFor(() => remote.stats.late === 1, 2000, "the late reply to arrive");
  assert.equal(remote.stats.pending, 0);
  assert.equal(remote.state, "open", "a late reply does not disturb the link");
  assert.equal(await remote.withTimeout(1000).call(Slow, 1), "late");
  assert.equal(remote.stats.timeouts, 2);
});

test("withTimeout overrides the default timeout per call, on remotes, roots and links", async (t) => {
  const { root, port } = await startRoot(t, { timeoutMs: 5000 });
  root.services.handle(Hang, () => new Promise<never>(() => {}));
  const { remote } = await startRemote(t, port, { timeoutMs: 5000 });
  remote.services.handle(Hang, () => new Promise<never>(() => {}));
  await waitFor(() => root.children().length === 1);

  const viaRemote = await timed(remote.withTimeout(80).call(Hang));
  const viaRoot = await timed(root.withTimeout(80).callChild("game1", Hang));
  const viaLink = await timed((root.child("game1") ?? assert.fail("no link")).withTimeout(80).call(Hang));
  const chained = await timed(remote.withTimeout(5000).withTimeout(80).call(Hang));
  for (const [what, outcome] of Object.entries({ viaRemote, viaRoot, viaLink, chained })) {
    assert.equal((outcome.error as RpcError).code, RpcErrorCode.Timeout, what);
    assert.ok(outcome.ms >= 75 && outcome.ms < 1000, `${what} took ${outcome.ms} ms`);
  }
  assert.throws(() => remote.withTimeout(0), RangeError);
  assert.throws(() => root.withTimeout(Number.NaN), RangeError);
});

test("calls reject at once with NotConnected: unknown child, remote whose root is down, closed remote", async (t) => {
  const { root, port } = await startRoot(t);
  const unknown = await timed(root.callChild("game9", Who));
  assert.equal((unknown.error as RpcError).code, RpcErrorCode.NotConnected);
  assert.match((unknown.error as RpcError).message, /no child "game9"/);
  assert.ok(unknown.ms < 50, `took ${unknown.ms} ms`);

  const { remote } = await startRemote(t, port, { timeoutMs: 5000 });
  await root.close();
  await waitFor(() => remote.state === "reconnecting", 2000, "the remote to notice");
  const down = await timed(remote.call(Who));
  assert.equal((down.error as RpcError).code, RpcErrorCode.NotConnected);
  assert.ok(down.ms < 50, `took ${down.ms} ms`);

  await remote.close();
  const closed = await timed(remote.call(Who));
  assert.equal((closed.error as RpcError).code, RpcErrorCode.NotConnected);
  await assert.rejects(remote.connect("127.0.0.1", port), rpcError(RpcErrorCode.NotConnected, /closed/));
  assert.equal(root.stats.errors, 1);
});

test("the pending table is bounded: a call over maxPending rejects at once with TooManyPending", async (t) => {
  const { root, port } = await startRoot(t);
  root.services.handle(Hang, () => new Promise<never>(() => {}));
  root.services.handle(Echo, ([v]) => v);
  const { remote } = await startRemote(t, port, { maxPending: 3, timeoutMs: 200 });
  const waiting = [remote.call(Hang), remote.call(Hang), remote.call(Hang)].map((p) => timed(p));
  assert.equal(remote.stats.pending, 3);
  const over = await timed(remote.call(Echo, 1));
  assert.equal((over.error as RpcError).code, RpcErrorCode.TooManyPending);
  assert.ok(over.ms < 50, `took ${over.ms} ms`);
  for (const outcome of await Promise.all(waiting)) assert.equal((outcome.error as RpcError).code, RpcErrorCode.Timeout);
  assert.equal(remote.stats.pending, 0);
  assert.equal(await remote.call(Echo, 2), 2, "room again once the table drains");
});

test("the serving side bounds handlers in flight: calls over maxInFlight get TooManyInFlight", async (t) => {
  const { root, port } = await startRoot(t, { maxInFlight: 2 });
  const release: Array<() => void> = [];
  root.services.handle(Slow, () => new Promise<string>((resolve) => release.push(() => resolve("done"))));
  const { remote } = await startRemote(t, port);
  const first = remote.call(Slow, 0);
  const second = remote.call(Slow, 0);
  await waitFor(() => release.length === 2);
  await assert.rejects(remote.call(Slow, 0), rpcError(RpcErrorCode.TooManyInFlight));
  for (const r of release) r();
  assert.deepEqual(await Promise.all([first, second]), ["done", "done"]);
  assert.equal(root.stats.inFlight, 0);
});

test("arguments and results above the peer's frame limit fail the call, not the link", async (t) => {
  const { root, port } = await startRoot(t, { maxBodyBytes: 64 * 1024 });
  root.services.handle(Echo, ([v]) => v);
  root.services.handle(Slow, ([n]) => "x".repeat(n));
  const { remote } = await startRemote(t, port, { maxBodyBytes: 32 * 1024 });
  const big = "y".repeat(100 * 1024);
  await assert.rejects(remote.call(Echo, big), rpcError(RpcErrorCode.BadPayload, /above gate's limit of 65536/));
  await assert.rejects(remote.call(Slow, 40 * 1024), rpcError(RpcErrorCode.BadPayload, /above the caller's limit of 32768/));
  assert.equal(await remote.call(Slow, 10), "x".repeat(10));
  assert.equal(remote.state, "open");
  // Values msgpack cannot carry fail the call locally.
  await assert.rejects(remote.call(Echo, 2n ** 70n), rpcError(RpcErrorCode.BadPayload, /cannot be encoded/));
});

test("counters: calls, errors, timeouts, pending and connected state", async (t) => {
  const { root, port } = await startRoot(t);
  root.services.handle(Echo, ([v]) => v);
  root.services.handle(Hang, () => new Promise<never>(() => {}));
  const { remote } = await startRemote(t, port);
  await remote.call(Echo, 1);
  await remote.call(Echo, 2);
  const hanging = timed(remote.withTimeout(100).call(Hang));
  assert.equal(remote.stats.pending, 1);
  await hanging;
  await assert.rejects(remote.call(Missing));
  const stats = remote.stats;
  assert.equal(stats.calls, 4);
  assert.equal(stats.errors, 2);
  assert.equal(stats.timeouts, 1);
  assert.equal(stats.pending, 0);
  assert.equal(stats.connected, true);
  assert.equal(stats.root, "gate");
  assert.equal(stats.target, `127.0.0.1:${port}`);
  assert.equal(stats.opens, 1);
  assert.equal(root.stats.children, 1);
  assert.equal(root.stats.served, 3);
  assert.equal(root.stats.listening, true);
});
