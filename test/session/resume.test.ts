/**
 * Session resume end to end (docs/sessions.md, "Resume"): numbered pushes on the wire, the SDK
 * resuming by itself after a real cut (a TCP proxy between client and gateway, for TCP and
 * WebSocket) and getting every missed push exactly once, the refusals (forged, foreign, used,
 * expired, overflowed, resume off), the SDK's fallback to a fresh login, a resume that takes a
 * session over from a half-dead connection, a client reconnecting in a tight loop, and pushes to
 * detached and ended sessions.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  command,
  decodeControl,
  defineApp,
  encodeControl,
  ErrorCode,
  KickCode,
  MessageType,
  push,
  SystemCommand,
  type ErrorBody,
  type KickBody,
  type Message,
  type SessionGateway,
  type SessionRef,
  type SessionReply,
} from "../../src/index.ts";
import { connect, type Client, type SessionHow } from "../../src/client/index.ts";
import { CuttableProxy, json, portOf, RawClient, sleep, waitFor } from "../helpers.ts";
import { sessionCluster, type SessionCluster } from "./cluster.ts";

// ---- what the scene offers ----

const Num = push<number>(100, { name: "num" });
const Note = push<string>(101, { name: "note" });
const Join = command<{ channel: string }, boolean>(20, { name: "join" });
const Where = command<null, { scene: string; uid: string; session: number }>(21, { name: "where" });
/** The scene pushes `from..to` to the caller through ctx.push. */
const Burst = command<{ from: number; to: number }, number>(22, { name: "burst" });

interface SceneLog {
  /** "enter:<uid>:<session>" and "offline:<uid>:<session>", in the order the hooks ran. */
  events: string[];
  /** The latest SessionRef of each uid, from its enter hook. */
  refs: Map<string, SessionRef>;
}

const newLog = (): SceneLog => ({ events: [], refs: new Map() });

function sceneApp(name: string, log: SceneLog) {
  return defineApp((node) => {
    node.sessions.onEnter((s) => {
      log.events.push(`enter:${s.uid}:${s.id}`);
      log.refs.set(s.uid, s);
    });
    node.sessions.onOffline((s) => {
      log.events.push(`offline:${s.uid}:${s.id}`);
    });
    node.commands.handle(Join, (req, ctx) => node.sessions.join(ctx.session!, req.channel));
    node.commands.handle(Where, (_req, ctx) => ({ scene: name, uid: ctx.session!.uid, session: ctx.session!.id }));
    node.commands.handle(Burst, (req, ctx) => {
      for (let n = req.from; n <= req.to; n++) ctx.push(Num, n);
      return req.to - req.from + 1;
    });
  });
}

async function cluster(sessions: Parameters<typeof sessionCluster>[0]["sessions"], log: SceneLog, shape: "root" | "gate" = "root"): Promise<SessionCluster> {
  return sessionCluster({ shape, scenes: ["scene1"], sessions, apps: { scene1: sceneApp("scene1", log) } });
}

const gatewayOf = (c: SessionCluster): SessionGateway => c.gateways.get("gateway")!.sessions.gateway!;
const sceneOf = (c: SessionCluster) => c.scenes.get("scene1")!;
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

// ---- a raw client whose waits are driven by socket events (no polling), for the tight loop ----

function take(raw: RawClient, match: (m: Message) => boolean, timeoutMs = 3000): Promise<Message> {
  return new Promise<Message>((resolve, reject) => {
    const cleanup = (): void => {
      clearTimeout(timer);
      raw.socket.off("data", onData);
      raw.socket.off("close", onClose);
    };
    const check = (): boolean => {
      const i = raw.messages.findIndex(match);
      if (i < 0) return false;
      cleanup();
      resolve(raw.messages.splice(i, 1)[0]!);
      return true;
    };
    const onData = (): void => {
      check();
    };
    const onClose = (): void => {
      if (check()) return;
      cleanup();
      reject(new Error("the socket closed before a matching message arrived"));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no matching message within ${timeoutMs} ms`));
    }, timeoutMs);
    // Added after RawClient's own data listener, so the chunk is decoded when this runs.
    raw.socket.on("data", onData);
    raw.socket.on("close", onClose);
    check();
  });
}

async function openRaw(port: number): Promise<RawClient> {
  const raw = await RawClient.open(port, { handshake: false });
  raw.send({ type: MessageType.Handshake, id: 0, command: 0, body: encodeControl({ protocol: 1 }) });
  await take(raw, (m) => m.type === MessageType.Handshake);
  return raw;
}

let nextRequestId = 1;

type Answer = { ok: true; reply: SessionReply; id: number } | { ok: false; code: number; message: string; id: number };

/** Send a system command and wait for its answer (Response or Error); pushes stay in raw.messages. */
async function system(raw: RawClient, command: number, body: unknown): Promise<Answer> {
  const id = nextRequestId++;
  raw.request(id, command, body);
  const answer = await take(raw, (m) => m.id === id && (m.type === MessageType.Response || m.type === MessageType.Error));
  if (answer.type === MessageType.Error) {
    const error = decodeControl<ErrorBody>(answer.body, ["code"]);
    return { ok: false, code: error.code, message: error.message, id };
  }
  return { ok: true, reply: json(answer.body) as SessionReply, id };
}

async function login(raw: RawClient, name: string): Promise<SessionReply> {
  const answer = await system(raw, SystemCommand.Login, { credentials: { name } });
  if (!answer.ok) throw new Error(`login refused (${answer.code}): ${answer.message}`);
  return answer.reply;
}

const resume = (raw: RawClient, token: string, lastSeq: number): Promise<Answer> => system(raw, SystemCommand.Resume, { token, lastSeq });

/** The push frames a raw client holds (taken out of its queue), as [sequence number, payload]. */
function takePushes(raw: RawClient): Array<[number, unknown]> {
  const pushes: Array<[number, unknown]> = [];
  for (let i = 0; i < raw.messages.length; ) {
    const m = raw.messages[i]!;
    if (m.type === MessageType.Push) {
      pushes.push([m.id, json(m.body)]);
      raw.messages.splice(i, 1);
    } else i++;
  }
  return pushes;
}

const countPushes = (raw: RawClient): number => raw.messages.filter((m) => m.type === MessageType.Push).length;

/** Open a connection, ask to resume with `token`, and expect ResumeRefused with a message matching `why`. */
async function expectRefused(port: number, token: string, lastSeq: number, why: RegExp): Promise<void> {
  const raw = await openRaw(port);
  try {
    const answer = await resume(raw, token, lastSeq);
    assert.equal(answer.ok, false, `resume with ${token} / ${lastSeq} was accepted`);
    if (answer.ok) return;
    assert.equal(answer.code, ErrorCode.ResumeRefused);
    assert.match(answer.message, why);
    assert.equal(takePushes(raw).length, 0, "a refused resume replays nothing");
  } finally {
    raw.close();
  }
}

function sdkLog(client: Client) {
  const got: string[] = [];
  const sessions: Array<{ how: SessionHow; id: number; uid: string; scene: string }> = [];
  client.on(Num, (n) => got.push(`n${n}`));
  client.on(Note, (s) => got.push(`note:${s}`));
  client.onSession((info, how) => sessions.push({ how, id: info.session, uid: info.uid, scene: info.scene }));
  return { got, sessions };
}

const numbered = (from: number, to: number): string[] => range(from, to).map((n) => `n${n}`);

// ---- the SDK resumes by itself after a real cut ----

for (const [shape, transport] of [
  ["root", "tcp"],
  ["root", "ws"],
  ["gate", "tcp"],
] as const) {
  test(`${shape} shape over ${transport}: the SDK resumes after a cut and gets every missed push once, in order; channels still deliver`, async () => {
    const log = newLog();
    const c = await cluster({ resumeWindowMs: 5000 }, log, shape);
    const gatewayPort = Number(new URL(transport === "tcp" ? c.tcp() : c.ws()).port);
    const proxy = await CuttableProxy.start(gatewayPort);
    let client: Client | undefined;
    try {
      const url = transport === "tcp" ? `tcp://127.0.0.1:${proxy.port}` : `ws://127.0.0.1:${proxy.port}/`;
      client = await connect(url, { login: () => ({ name: "alice" }), reconnect: { initialDelayMs: 10, maxDelayMs: 40 } });
      const { got, sessions } = sdkLog(client);
      const first = client.session!;
      assert.equal(first.uid, "alice");
      assert.equal(first.scene, "scene1");
      const gateway = gatewayOf(c);
      const scene = sceneOf(c);

      assert.equal(await client.request(Join, { channel: "lobby" }), true);
      // 1..10 through ctx.push in a handler, 11..20 through node.sessions.push.
      assert.equal(await client.request(Burst, { from: 1, to: 10 }), 10);
      const ref = log.refs.get("alice")!;
      for (const n of range(11, 20)) scene.sessions.push(ref, Num, n);
      await waitFor(() => got.length === 20, 3000, "pushes 1..20");
      assert.deepEqual(got, numbered(1, 20));

      proxy.cut();
      await waitFor(() => client!.state === "reconnecting", 3000, "the client to notice the cut");
      await waitFor(() => gateway.stats.detached === 1, 3000, "the gateway to detach the session");
      for (const n of range(21, 35)) scene.sessions.push(ref, Num, n);
      scene.sessions.pushChannel("lobby", Note, "while away");
      for (const n of range(36, 50)) scene.sessions.push(ref, Num, n);
      await waitFor(() => gateway.get(first.session)?.seq === 51, 3000, "the gateway to number 51 pushes");
      await sleep(60); // the client keeps failing to reconnect meanwhile
      assert.equal(got.length, 20, "nothing arrives while the link is cut");
      assert.deepEqual(sessions, []);

      proxy.restore();
      await waitFor(() => sessions.length === 1, 5000, "the client to resume");
      await waitFor(() => got.length === 51, 3000, "the missed pushes");
      assert.deepEqual(sessions, [{ how: "resume", id: first.session, uid: "alice", scene: "scene1" }]);
      assert.equal(client.session?.session, first.session);
      assert.notEqual(client.session?.token, first.token, "a resume hands out a fresh token");
      assert.equal(client.state, "open");

      // After the resume: the channel and both push paths still deliver, nothing twice.
      scene.sessions.pushChannel("lobby", Note, "back");
      assert.equal(await client.request(Burst, { from: 51, to: 55 }), 5);
      await waitFor(() => got.length === 57, 3000, "pushes after the resume");
      await sleep(50);
      assert.deepEqual(got, [...numbered(1, 35), "note:while away", ...numbered(36, 50), "note:back", ...numbered(51, 55)]);
      assert.deepEqual(await client.request(Where, null), { scene: "scene1", uid: "alice", session: first.session });

      const stats = gateway.stats;
      assert.equal(stats.logins, 1);
      assert.equal(stats.resumed, 1);
      assert.equal(stats.replayed, 31);
      assert.equal(stats.resumesRefused, 0);
      assert.equal(stats.sessions, 1);
      assert.equal(stats.detached, 0);
      assert.deepEqual(log.events, [`enter:alice:${first.session}`], "a resume is no new enter and no offline");
    } finally {
      client?.close();
      proxy.close();
      await c.stop();
    }
  });
}

// ---- sequence numbers on the wire ----

test("on the wire: pushes carry 1, 2, 3, … in the frame id; Resume with lastSeq k replays k+1..latest after its Response, with their ids", async () => {
  const log = newLog();
  const c = await cluster({ resumeWindowMs: 5000 }, log);
  try {
    const port = portOf(c.gateways.get("gateway")!, "tcp");
    const gateway = gatewayOf(c);
    const scene = sceneOf(c);
    const a = await openRaw(port);
    const reply = await login(a, "bob");
    assert.equal(reply.resumeWindowMs, 5000);
    assert.equal(reply.gateway, "gateway");
    assert.match(reply.token, new RegExp(`^${reply.session}\\.`));
    const ref = log.refs.get("bob")!;
    for (const n of range(101, 105)) scene.sessions.push(ref, Num, n);
    await waitFor(() => countPushes(a) === 5, 3000, "five pushes");
    // ctx.push in a handler is numbered the same way.
    a.request(nextRequestId++, Burst.id, { from: 106, to: 107 });
    await waitFor(() => countPushes(a) === 7, 3000, "two more pushes");
    const pushFrames = a.messages.filter((m) => m.type === MessageType.Push);
    assert.deepEqual(
      pushFrames.map((m) => m.command),
      Array<number>(7).fill(Num.id),
    );
    assert.deepEqual(takePushes(a), range(1, 7).map((seq) => [seq, 100 + seq]));
    a.close();
    await waitFor(() => gateway.stats.detached === 1, 3000, "the session to detach");

    for (const n of range(108, 110)) scene.sessions.push(ref, Num, n);
    await waitFor(() => gateway.get(reply.session)?.seq === 10, 3000, "pushes 8..10 to be numbered");

    const b = await openRaw(port);
    const id = nextRequestId++;
    b.request(id, SystemCommand.Resume, { token: reply.token, lastSeq: 4 });
    await waitFor(() => b.messages.length === 7, 3000, "the reply and six replayed pushes");
    await sleep(30);
    assert.deepEqual(
      b.messages.map((m) => [m.type, m.id]),
      [[MessageType.Response, id], ...range(5, 10).map((seq) => [MessageType.Push, seq])],
      "the Response first, then pushes 5..10 with their original ids",
    );
    const resumed = json(b.messages[0]!.body) as SessionReply;
    assert.equal(resumed.session, reply.session);
    assert.equal(resumed.uid, "bob");
    assert.equal(resumed.scene, "scene1");
    assert.equal(resumed.replayed, 6);
    assert.notEqual(resumed.token, reply.token);
    b.messages.splice(0, 1);
    assert.deepEqual(takePushes(b), range(5, 10).map((seq) => [seq, 100 + seq]));

    // The sequence goes on from where it was.
    scene.sessions.push(ref, Num, 111);
    await waitFor(() => countPushes(b) === 1, 3000, "push 11");
    assert.deepEqual(takePushes(b), [[11, 111]]);

    // A resume at the latest number replays nothing.
    b.close();
    await waitFor(() => gateway.stats.detached === 1, 3000, "the session to detach again");
    const d = await openRaw(port);
    const again = await resume(d, resumed.token, 11);
    assert.ok(again.ok, "resume at the latest number");
    assert.equal(again.reply.replayed, 0);
    await sleep(30);
    assert.equal(countPushes(d), 0);
    d.close();
    assert.equal(gateway.stats.replayed, 6);
    assert.equal(gateway.stats.resumed, 2);
  } finally {
    await c.stop();
  }
});

// ---- refusals ----

test("resume is refused with ResumeRefused and a reason: forged, another session's, used, out of the buffer, ahead of the session", async () => {
  const log = newLog();
  const c = await cluster({ resumeWindowMs: 5000, replayMessages: 4 }, log);
  try {
    const port = portOf(c.gateways.get("gateway")!, "tcp");
    const gateway = gatewayOf(c);
    const scene = sceneOf(c);

    const alice = await openRaw(port);
    const aliceReply = await login(alice, "alice");
    const bob = await openRaw(port);
    const bobReply = await login(bob, "bob");
    alice.close();
    bob.close();
    await waitFor(() => gateway.stats.detached === 2, 3000, "both sessions to detach");
    const secret = (token: string) => token.slice(token.indexOf(".") + 1);

    // Forged: random secrets, for a session that does not exist and for one that does; no session id at all.
    const random = () => randomBytes(18).toString("base64url");
    await expectRefused(port, `987654.${random()}`, 0, /unknown or expired session/);
    await expectRefused(port, `${aliceReply.session}.${random()}`, 0, /unknown or expired session/);
    await expectRefused(port, random(), 0, /unknown or expired session/);
    // Another session's secret under this session's id.
    await expectRefused(port, `${aliceReply.session}.${secret(bobReply.token)}`, 0, /unknown or expired session/);
    await expectRefused(port, `${bobReply.session}.${secret(aliceReply.token)}`, 0, /unknown or expired session/);
    assert.equal(gateway.stats.resumesRefused, 5);

    // Refusals burn nothing: the real tokens still resume their own sessions.
    const a2 = await openRaw(port);
    const aliceResumed = await resume(a2, aliceReply.token, 0);
    assert.ok(aliceResumed.ok, "alice's own token");
    assert.equal(aliceResumed.reply.session, aliceReply.session);
    assert.equal(aliceResumed.reply.uid, "alice");
    a2.close();
    await waitFor(() => gateway.stats.detached === 2, 3000, "alice to detach again");

    // A token resumes once.
    await expectRefused(port, aliceReply.token, 0, /token already used/);
    const a3 = await openRaw(port);
    const aliceAgain = await resume(a3, aliceResumed.reply.token, 0);
    assert.ok(aliceAgain.ok, "the fresh token from the resume");
    a3.close();
    await waitFor(() => gateway.stats.detached === 2, 3000, "alice to detach once more");
    await expectRefused(port, aliceResumed.reply.token, 0, /token already used/);

    // Past the buffer (4 pushes kept): 6 pushes while detached.
    const bobRef = log.refs.get("bob")!;
    for (const n of range(1, 6)) scene.sessions.push(bobRef, Num, n);
    await waitFor(() => gateway.get(bobReply.session)?.seq === 6, 3000, "six pushes to bob");
    await expectRefused(port, bobReply.token, 0, /pushes after 0 are no longer buffered \(the session is at 6\)/);
    await expectRefused(port, bobReply.token, 1, /pushes after 1 are no longer buffered/);
    // Ahead of what the session has sent.
    await expectRefused(port, bobReply.token, 7, /no longer buffered/);
    // The oldest still buffered is 3: from lastSeq 2 the resume works and replays 3..6.
    const b2 = await openRaw(port);
    const bobResumed = await resume(b2, bobReply.token, 2);
    assert.ok(bobResumed.ok, "resume from the oldest buffered push");
    assert.equal(bobResumed.reply.replayed, 4);
    await waitFor(() => countPushes(b2) === 4, 3000, "pushes 3..6");
    assert.deepEqual(takePushes(b2), range(3, 6).map((n) => [n, n]));

    // A connection that has a session cannot resume or log in again (AlreadyLoggedIn, not a resume refusal).
    const twice = await resume(b2, bobResumed.reply.token, 6);
    assert.equal(twice.ok, false);
    assert.equal(twice.ok ? 0 : twice.code, ErrorCode.AlreadyLoggedIn);
    const relogin = await system(b2, SystemCommand.Login, { credentials: { name: "bob" } });
    assert.equal(relogin.ok ? 0 : relogin.code, ErrorCode.AlreadyLoggedIn);

    // A refused resume leaves the connection usable: it can log in instead (what the SDK does).
    const c2 = await openRaw(port);
    const refused = await resume(c2, `1.${random()}`, 0);
    assert.equal(refused.ok, false);
    const carol = await login(c2, "carol");
    assert.equal(carol.uid, "carol");
    c2.close();
    b2.close();

    assert.equal(gateway.stats.resumesRefused, 11);
    assert.equal(gateway.stats.resumed, 3);
    assert.equal(log.events.filter((e) => e.startsWith("offline:")).length, 0, "no refusal ended a session");
  } finally {
    await c.stop();
  }
});

test("replayBytes bounds the buffer too: the oldest pushes go first, and a push larger than the bound is not kept", async () => {
  const log = newLog();
  const c = await cluster({ resumeWindowMs: 5000, replayMessages: 1000, replayBytes: 100 }, log);
  try {
    const port = portOf(c.gateways.get("gateway")!, "tcp");
    const gateway = gatewayOf(c);
    const scene = sceneOf(c);
    const raw = await openRaw(port);
    const reply = await login(raw, "kim");
    const ref = log.refs.get("kim")!;
    raw.close();
    await waitFor(() => gateway.stats.detached === 1, 3000, "the session to detach");
    // Three pushes of 40 bytes each (JSON strings): 120 bytes, so the first goes.
    const body = (n: number): string => `${n}`.padEnd(38, "x");
    for (const n of range(1, 3)) scene.sessions.push(ref, Note, body(n));
    await waitFor(() => gateway.get(reply.session)?.seq === 3, 3000, "three pushes");
    assert.equal(gateway.get(reply.session)!.replay.size, 2);
    assert.equal(gateway.get(reply.session)!.replay.byteSize, 80);
    await expectRefused(port, reply.token, 0, /pushes after 0 are no longer buffered/);
    const again = await openRaw(port);
    const resumed = await resume(again, reply.token, 1);
    assert.ok(resumed.ok, "resume from the oldest kept push");
    assert.equal(resumed.reply.replayed, 2);
    await waitFor(() => countPushes(again) === 2, 3000, "pushes 2 and 3");
    assert.deepEqual(takePushes(again), [
      [2, body(2)],
      [3, body(3)],
    ]);
    again.close();
    await waitFor(() => gateway.stats.detached === 1, 3000, "the session to detach again");

    // One push above the bound: nothing before it can be replayed, not even itself.
    scene.sessions.push(ref, Note, "y".repeat(200));
    await waitFor(() => gateway.get(reply.session)?.seq === 4, 3000, "a large push");
    assert.equal(gateway.get(reply.session)!.replay.size, 0);
    await expectRefused(port, resumed.reply.token, 3, /pushes after 3 are no longer buffered \(the session is at 4\)/);
    // A client that did get it (lastSeq 4) resumes with nothing to replay.
    const last = await openRaw(port);
    const upToDate = await resume(last, resumed.reply.token, 4);
    assert.ok(upToDate.ok, "resume at the latest number after a large push");
    assert.equal(upToDate.reply.replayed, 0);
    last.close();
  } finally {
    await c.stop();
  }
});

test("past resumeWindowMs the session ends (its scene gets offline) and a resume is refused", async () => {
  const log = newLog();
  const c = await cluster({ resumeWindowMs: 300 }, log);
  try {
    const port = portOf(c.gateways.get("gateway")!, "tcp");
    const gateway = gatewayOf(c);
    const raw = await openRaw(port);
    const reply = await login(raw, "frank");
    assert.equal(reply.resumeWindowMs, 300);
    raw.close();
    await waitFor(() => gateway.stats.detached === 1, 3000, "the session to detach");
    const detachedAt = Date.now();
    await sleep(100);
    assert.equal(gateway.stats.sessions, 1, "within the window the session is kept");
    assert.deepEqual(log.events, [`enter:frank:${reply.session}`]);

    await waitFor(() => log.events.includes(`offline:frank:${reply.session}`), 3000, "offline at the scene");
    assert.ok(Date.now() - detachedAt >= 250, `the session ended after ${Date.now() - detachedAt} ms, before its window`);
    assert.equal(gateway.stats.sessions, 0);
    assert.equal(gateway.stats.detached, 0);
    await expectRefused(port, reply.token, 0, /unknown or expired session/);
    assert.equal(gateway.stats.resumesRefused, 1);
  } finally {
    await c.stop();
  }
});

test("with resumeWindowMs 0 resume is off: refused even for a live session, and a dropped session ends at once", async () => {
  const log = newLog();
  const c = await cluster({ resumeWindowMs: 0 }, log);
  try {
    const port = portOf(c.gateways.get("gateway")!, "tcp");
    const gateway = gatewayOf(c);
    const raw = await openRaw(port);
    const reply = await login(raw, "gus");
    assert.equal(reply.resumeWindowMs, 0);
    await expectRefused(port, reply.token, 0, /resume is turned off/);
    await sleep(30);
    assert.equal(raw.closed, false, "the refused resume did not take the live connection's session");
    assert.equal(raw.messages.filter((m) => m.type === MessageType.Kick).length, 0);
    raw.close();
    await waitFor(() => log.events.includes(`offline:gus:${reply.session}`), 3000, "offline at the scene at once");
    assert.equal(gateway.stats.sessions, 0);
    await expectRefused(port, reply.token, 0, /resume is turned off/);
    assert.equal(gateway.stats.resumesRefused, 2);
    assert.equal(gateway.stats.resumed, 0);
  } finally {
    await c.stop();
  }
});

// ---- the SDK falls back to a login ----

test("the SDK logs in afresh when its resume is refused (overflowed buffer, expired window) and keeps working", async () => {
  const log = newLog();
  const c = await cluster({ resumeWindowMs: 400, replayMessages: 4 }, log);
  const proxy = await CuttableProxy.start(Number(new URL(c.tcp()).port));
  let client: Client | undefined;
  try {
    const gateway = gatewayOf(c);
    const scene = sceneOf(c);
    client = await connect(`tcp://127.0.0.1:${proxy.port}`, { login: () => ({ name: "gina" }), reconnect: { initialDelayMs: 10, maxDelayMs: 40 } });
    const { got, sessions } = sdkLog(client);
    const first = client.session!;
    scene.sessions.push(log.refs.get("gina")!, Num, 1);
    await waitFor(() => got.length === 1, 3000, "push 1");

    // Overflow: 10 pushes while cut, 4 kept.
    proxy.cut();
    await waitFor(() => gateway.stats.detached === 1, 3000, "the session to detach");
    for (const n of range(2, 11)) scene.sessions.push(log.refs.get("gina")!, Num, n);
    await waitFor(() => gateway.get(first.session)?.seq === 11, 3000, "pushes 2..11 to be numbered");
    proxy.restore();
    await waitFor(() => sessions.length === 1, 5000, "a new session");
    assert.equal(sessions[0]!.how, "login");
    assert.notEqual(sessions[0]!.id, first.session);
    assert.equal(sessions[0]!.uid, "gina");
    assert.equal(client.session?.session, sessions[0]!.id);
    assert.equal(gateway.stats.resumesRefused, 1);
    assert.equal(gateway.stats.replaced, 1, "the new login ended the old detached session");
    await waitFor(() => log.events.includes(`offline:gina:${first.session}`), 3000, "offline for the old session");
    assert.equal(gateway.stats.sessions, 1);
    const second = sessions[0]!.id;
    assert.deepEqual(await client.request(Where, null), { scene: "scene1", uid: "gina", session: second });
    scene.sessions.push(log.refs.get("gina")!, Num, 100);
    await waitFor(() => got.length === 2, 3000, "a push to the new session");
    assert.deepEqual(got, ["n1", "n100"], "the lost pushes are not delivered, the new session's are");

    // Expired: the link stays cut past the window.
    proxy.cut();
    await waitFor(() => log.events.includes(`offline:gina:${second}`), 3000, "the window to pass");
    assert.equal(gateway.stats.sessions, 0);
    proxy.restore();
    await waitFor(() => sessions.length === 2, 5000, "a third session");
    assert.equal(sessions[1]!.how, "login");
    assert.ok(sessions[1]!.id !== second && sessions[1]!.id !== first.session, "a new session id");
    assert.equal(gateway.stats.resumesRefused, 2);
    assert.deepEqual(await client.request(Where, null), { scene: "scene1", uid: "gina", session: sessions[1]!.id });
    scene.sessions.push(log.refs.get("gina")!, Num, 200);
    await waitFor(() => got.length === 3, 3000, "a push to the third session");
    assert.deepEqual(got, ["n1", "n100", "n200"]);
    assert.equal(client.state, "open");
    assert.equal(gateway.stats.logins, 3);
  } finally {
    client?.close();
    proxy.close();
    await c.stop();
  }
});

// ---- a half-dead link ----

test("a resume while the old connection is still open kicks it with Replaced; the new connection has the session", async () => {
  const log = newLog();
  const c = await cluster({ resumeWindowMs: 5000 }, log);
  try {
    const port = portOf(c.gateways.get("gateway")!, "tcp");
    const gateway = gatewayOf(c);
    const scene = sceneOf(c);
    const old = await openRaw(port);
    const reply = await login(old, "hank");
    const ref = log.refs.get("hank")!;
    scene.sessions.push(ref, Num, 1);
    await waitFor(() => countPushes(old) === 1, 3000, "push 1 on the old connection");
    takePushes(old);

    // The old connection is never closed by the client: to the server it looks alive.
    const fresh = await openRaw(port);
    const resumed = await resume(fresh, reply.token, 1);
    assert.ok(resumed.ok, "resume over a live connection");
    assert.equal(resumed.reply.session, reply.session);
    assert.equal(resumed.reply.replayed, 0);
    const kick = await take(old, (m) => m.type === MessageType.Kick);
    assert.equal(decodeControl<KickBody>(kick.body, ["code"]).code, KickCode.Replaced);
    await old.waitClosed();
    await sleep(50); // the old connection's close has been handled by now

    const stats = gateway.stats;
    assert.equal(stats.sessions, 1);
    assert.equal(stats.detached, 0, "the old connection's close did not detach the session from the new one");
    assert.equal(stats.resumed, 1);
    scene.sessions.push(ref, Num, 2);
    await waitFor(() => countPushes(fresh) === 1, 3000, "push 2 on the new connection");
    assert.deepEqual(takePushes(fresh), [[2, 2]]);
    assert.equal(countPushes(old), 0);
    // Commands on the new connection run in the session.
    const id = nextRequestId++;
    fresh.request(id, Where.id, null);
    const answer = await take(fresh, (m) => m.id === id && m.type === MessageType.Response);
    assert.deepEqual(json(answer.body), { scene: "scene1", uid: "hank", session: reply.session });
    assert.deepEqual(log.events, [`enter:hank:${reply.session}`], "no offline: the session went on");
    fresh.close();
  } finally {
    await c.stop();
  }
});

// ---- a client reconnecting in a tight loop ----

test("200 connect → resume/login → drop cycles as fast as possible leave one session, no pile-up, every push once; others are still served", async () => {
  const log = newLog();
  const c = await cluster({ resumeWindowMs: 600 }, log);
  try {
    const port = portOf(c.gateways.get("gateway")!, "tcp");
    const gateway = gatewayOf(c);
    const scene = sceneOf(c);
    const CYCLES = 200;
    const deadline = Date.now() + 15_000;

    let raw = await openRaw(port);
    let current = await login(raw, "loop");
    let logins = 1;
    let resumes = 0;
    /** Sequence numbers received, per session id, across all its connections. */
    const seen = new Map<number, number[]>([[current.session, []]]);
    let lastSeq = 0;
    let pushed = 0;
    const collect = (r: RawClient): void => {
      for (const [seq] of takePushes(r)) seen.get(current.session)!.push(seq);
      const list = seen.get(current.session)!;
      lastSeq = list.length === 0 ? 0 : list[list.length - 1]!;
    };
    raw.close();

    let cycles = 0;
    for (; cycles < CYCLES && Date.now() < deadline; cycles++) {
      // The scene keeps pushing to whatever session "loop" has, connected or not.
      scene.sessions.push(log.refs.get("loop")!, Num, ++pushed);
      raw = await openRaw(port);
      if (cycles % 25 === 24) {
        current = await login(raw, "loop");
        seen.set(current.session, []);
        lastSeq = 0;
        logins++;
      } else {
        const answer = await resume(raw, current.token, lastSeq);
        assert.ok(answer.ok, `cycle ${cycles}: resume refused: ${answer.ok ? "" : answer.message}`);
        assert.equal(answer.reply.session, current.session);
        current = answer.reply;
        resumes++;
      }
      collect(raw);
      raw.close();
    }
    assert.equal(cycles, CYCLES, "the loop ran every cycle within its deadline");

    await waitFor(() => gateway.stats.sessions === 1 && gateway.stats.detached === 1, 3000, "one detached session");
    const stats = gateway.stats;
    assert.equal(stats.logins, logins);
    assert.equal(stats.resumed, resumes);
    assert.equal(stats.replaced, logins - 1);
    assert.equal(stats.resumesRefused, 0);
    assert.equal(stats.channels, 0);
    for (const [id, seqs] of seen) {
      assert.deepEqual(seqs, range(1, seqs.length), `session ${id} got each of its pushes once, in order`);
    }

    // A normal client is served promptly.
    const started = Date.now();
    const other = await connect(c.tcp(), { login: () => ({ name: "normal" }), reconnect: false });
    try {
      assert.equal((await other.request(Where, null)).uid, "normal");
      assert.ok(Date.now() - started < 1000, `a normal login and request took ${Date.now() - started} ms`);

      // The loop's last session ends with its window; every session it had is offline exactly once.
      await waitFor(() => gateway.stats.sessions === 1 && gateway.stats.detached === 0, 3000, "the loop's session to expire");
      const enters = log.events.filter((e) => e.startsWith("enter:loop:"));
      assert.equal(enters.length, logins);
      await waitFor(() => log.events.filter((e) => e.startsWith("offline:loop:")).length >= logins, 3000, "offline for each loop session");
      await sleep(50);
      const offlines = log.events.filter((e) => e.startsWith("offline:loop:"));
      assert.deepEqual(
        [...offlines].sort(),
        enters.map((e) => e.replace("enter:", "offline:")).sort(),
        "each session the loop had went offline once",
      );
      assert.equal(gateway.stats.detached, 0);
    } finally {
      other.close();
    }
  } finally {
    await c.stop();
  }
});

// ---- pushes to detached and ended sessions ----

test("pushes to a detached session are buffered and numbered; pushes to an ended session are counted in pushesToGone, never thrown", async () => {
  const log = newLog();
  const c = await cluster({ resumeWindowMs: 5000 }, log);
  try {
    const port = portOf(c.gateways.get("gateway")!, "tcp");
    const gatewayNode = c.gateways.get("gateway")!;
    const gateway = gatewayOf(c);
    const scene = sceneOf(c);
    const raw = await openRaw(port);
    const reply = await login(raw, "ivy");
    const ref = log.refs.get("ivy")!;
    raw.close();
    await waitFor(() => gateway.stats.detached === 1, 3000, "the session to detach");

    // From the scene (over its link) and from the gateway node itself.
    for (const n of range(1, 3)) scene.sessions.push(ref, Num, n);
    await waitFor(() => gateway.get(reply.session)?.seq === 3, 3000, "the scene's three pushes to be numbered");
    gatewayNode.sessions.push(ref, Num, 4);
    await waitFor(() => gateway.get(reply.session)?.seq === 4, 3000, "four pushes to be numbered");
    assert.equal(gateway.get(reply.session)!.replay.size, 4, "all four are buffered");
    assert.equal(gateway.stats.pushesToGone, 0);

    // They are all replayed on resume; then the session is ended by a logout.
    const again = await openRaw(port);
    const resumed = await resume(again, reply.token, 0);
    assert.ok(resumed.ok);
    assert.equal(resumed.reply.replayed, 4);
    await waitFor(() => countPushes(again) === 4, 3000, "the four buffered pushes");
    assert.deepEqual(takePushes(again), range(1, 4).map((n) => [n, n]));
    const out = await system(again, SystemCommand.Logout, {});
    assert.ok(out.ok, "logout");
    await waitFor(() => log.events.includes(`offline:ivy:${reply.session}`), 3000, "offline after logout");
    assert.equal(gateway.stats.sessions, 0);

    // A live session, to see a mixed pushMany reach the living one.
    const live = await openRaw(port);
    const liveReply = await login(live, "jay");
    const liveRef = log.refs.get("jay")!;
    assert.notEqual(liveReply.session, reply.session, "an ended session's id is not handed out again at once");

    assert.doesNotThrow(() => {
      scene.sessions.push(ref, Num, 5);
      scene.sessions.push(ref, Num, 6);
      gatewayNode.sessions.push(ref, Num, 7);
      scene.sessions.pushMany([ref, liveRef], Num, 8);
    });
    await waitFor(() => gateway.stats.pushesToGone === 4, 3000, "four pushes counted as gone");
    await waitFor(() => countPushes(live) === 1, 3000, "the live session's push");
    assert.deepEqual(takePushes(live), [[1, 8]]);
    assert.equal(await scene.sessions.join(ref, "lobby"), false, "joining an ended session is a no-op");
    assert.equal(gateway.stats.channels, 0);
    await sleep(30);
    assert.equal(gateway.stats.pushesToGone, 4);
    assert.equal(countPushes(again), 0, "nothing reaches the connection that logged out");
    assert.equal(again.messages.filter((m) => m.type === MessageType.Error).length, 0);
    again.close();
    live.close();
  } finally {
    await c.stop();
  }
});
