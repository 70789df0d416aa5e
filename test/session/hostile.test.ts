/**
 * Hostile input at a session gateway, sent as raw frames over loopback: malformed Login and
 * Resume bodies, oversized frames, forged tokens, the internal system commands (Enter, Leave)
 * and unknown system command ids sent by a client, notifies of system commands, pipelined
 * floods, and disconnects in the middle of a login. In every case the gateway keeps serving a
 * well-behaved client, and no scene hook runs that should not.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  command,
  defineApp,
  ErrorCode,
  KickCode,
  MessageType,
  SystemCommand,
  writeU32,
  type App,
  type Message,
  type Node,
  type SessionRef,
  type SessionSettingsInput,
} from "../../src/index.ts";
import { connect, type KickBody } from "../../src/client/index.ts";
import { captureLogger, json, portOf, RawClient, sleep, startNode, utf8, waitFor } from "../helpers.ts";
import { sessionCluster } from "./cluster.ts";

const Echo = command<{ text: string }, { text: string; uid: string }>(1, { name: "echo" });
const Where = command<null, { uid: string; scene: string }>(10, { name: "where" });

const MAX_BODY = 16 * 1024;

interface ErrorBody {
  code: number;
  message: string;
}

function replyTo(raw: RawClient, id: number, timeoutMs = 3000): Promise<Message> {
  return raw.next((m) => m.id === id && (m.type === MessageType.Response || m.type === MessageType.Error), timeoutMs);
}

async function expectError(raw: RawClient, id: number, code: number, what = `request ${id}`): Promise<ErrorBody> {
  const m = await replyTo(raw, id);
  assert.equal(m.type, MessageType.Error, `${what}: expected an Error frame, got a Response ${JSON.stringify(json(m.body))}`);
  const body = json(m.body) as ErrorBody;
  assert.equal(body.code, code, `${what}: ${JSON.stringify(body)}`);
  return body;
}

async function expectSession(raw: RawClient, id: number): Promise<{ session: number; uid: string; token: string }> {
  const m = await replyTo(raw, id);
  assert.equal(m.type, MessageType.Response, `request ${id}: expected a Response, got ${m.type === MessageType.Error ? JSON.stringify(json(m.body)) : m.type}`);
  return json(m.body) as { session: number; uid: string; token: string };
}

/** A request with an exact body (bytes, or a string sent as its UTF-8). */
function sendRaw(raw: RawClient, id: number, command: number, body: Uint8Array | string, type: MessageType = MessageType.Request): void {
  raw.send({ type, id: type === MessageType.Request ? id : 0, command, body: typeof body === "string" ? utf8(body) : body });
}

const kickOf = (raw: RawClient): KickBody | undefined => {
  const m = raw.messages.find((x) => x.type === MessageType.Kick);
  return m === undefined ? undefined : (json(m.body) as KickBody);
};

let nextName = 0;

/** A well-behaved SDK client logs in, gets an answer, and logs out. */
async function stillServes(url: string, command: "echo" | "where" = "echo"): Promise<void> {
  const name = `good-${++nextName}`;
  const client = await connect(url, { reconnect: false, login: () => ({ name }) });
  try {
    if (command === "echo") assert.deepEqual(await client.request(Echo, { text: "hi" }), { text: "hi", uid: name });
    else assert.equal((await client.request(Where, null)).uid, name);
    await client.logout();
  } finally {
    client.close();
  }
}

interface Gateway {
  node: Node;
  port: number;
  url: string;
  lines: string[];
  verified: unknown[];
}

/** A gateway on its own, small frames; verify takes `{ name }` and records what it was given. */
async function gateway(sessions: SessionSettingsInput = {}, limits: { maxInFlight?: number } = {}, verifyDelayMs = 0, extra?: App): Promise<Gateway> {
  const verified: unknown[] = [];
  const { logger, lines } = captureLogger();
  const app = defineApp((node) => {
    node.sessions.verify(async (credentials) => {
      verified.push(credentials);
      if (verifyDelayMs > 0) await sleep(verifyDelayMs);
      const name = (credentials as { name?: unknown } | null)?.name;
      if (typeof name !== "string" || name.length === 0 || name.length > 64) throw new Error("no usable name");
      return { uid: name };
    });
    node.commands.handle(Echo, (req, ctx) => ({ text: req.text, uid: ctx.session!.uid }));
  });
  const node = await startNode(
    { name: "gw", tcp: [{ port: 0, limits: { maxBodyBytes: MAX_BODY, ...limits } }], sessions, stopDeadlineMs: 200 },
    extra ? [app, extra] : [app],
    logger,
  );
  const port = portOf(node, "tcp");
  return { node, port, url: `tcp://127.0.0.1:${port}`, lines, verified };
}

// ---- Login bodies ----

test("Login bodies that are not JSON, or JSON of the wrong shape, get BadPayload; verify never runs; the connection can still log in", async (t) => {
  const g = await gateway();
  t.after(() => g.node.stop());
  const raw = await RawClient.open(g.port);
  t.after(() => raw.close());
  const bodies: Array<Uint8Array | string> = [
    "not json",
    "{",
    '{"credentials":',
    new Uint8Array([0xff, 0xfe, 0x00, 0x7b]),
    new Uint8Array(0),
    "[]",
    '[{"credentials":{"name":"x"}}]',
    "42",
    "-1e999",
    '"credentials"',
    "null",
    "true",
    "{}",
    '{"credential":{"name":"x"}}',
    '{"__proto__":{"credentials":{"name":"x"}}}',
    '{"constructor":{"prototype":{"credentials":1}}}',
  ];
  for (const [i, body] of bodies.entries()) {
    sendRaw(raw, 100 + i, SystemCommand.Login, body);
    const error = await expectError(raw, 100 + i, ErrorCode.BadPayload, `body ${JSON.stringify(typeof body === "string" ? body : [...body])}`);
    assert.match(error.message, /session command's body/);
  }
  assert.deepEqual(g.verified, [], "verify never ran");
  assert.equal(raw.closed, false);
  assert.equal(g.node.sessions.stats!.sessions, 0);

  // Well-formed bodies whose credentials verify refuses: LoginRefused, not BadPayload.
  for (const [i, credentials] of [null, 0, [], "name", { name: "" }, { name: { $gt: "" } }].entries()) {
    sendRaw(raw, 200 + i, SystemCommand.Login, JSON.stringify({ credentials }));
    await expectError(raw, 200 + i, ErrorCode.LoginRefused, `credentials ${JSON.stringify(credentials)}`);
  }
  assert.equal(g.verified.length, 6);

  sendRaw(raw, 1, SystemCommand.Login, JSON.stringify({ credentials: { name: "after" }, extra: "ignored" }));
  assert.equal((await expectSession(raw, 1)).uid, "after");
  sendRaw(raw, 2, Echo.id, JSON.stringify({ text: "ok" }));
  const echo = await replyTo(raw, 2);
  assert.deepEqual(json(echo.body), { text: "ok", uid: "after" });
  await stillServes(g.url);
});

test("huge credentials: a body of exactly maxBodyBytes reaches verify; one byte more closes the connection with a ProtocolError kick; the node serves others", async (t) => {
  const g = await gateway();
  t.after(() => g.node.stop());
  const envelope = (pad: number) => `{"credentials":{"name":"big","pad":"${"x".repeat(pad)}"}}`;
  const overhead = envelope(0).length;

  const near = await RawClient.open(g.port);
  t.after(() => near.close());
  sendRaw(near, 1, SystemCommand.Login, envelope(MAX_BODY - overhead));
  assert.equal((await expectSession(near, 1)).uid, "big");
  assert.equal(((g.verified[0] as { pad: string }).pad).length, MAX_BODY - overhead);

  const over = await RawClient.open(g.port);
  t.after(() => over.close());
  // The client's own format must be allowed to encode what the server refuses.
  sendRaw(over, 1, SystemCommand.Login, envelope(MAX_BODY - overhead + 1));
  await over.waitClosed();
  assert.equal(kickOf(over)?.code, KickCode.ProtocolError);
  assert.match(kickOf(over)!.reason, /frame-too-large/);
  assert.equal(g.verified.length, 1, "verify never saw the oversized body");

  // A header announcing a body of 4 GiB is refused from its header alone.
  const liar = await RawClient.open(g.port);
  t.after(() => liar.close());
  const header = new Uint8Array(14);
  writeU32(header, 0, 0xffff_ffff);
  header[4] = MessageType.Request;
  writeU32(header, 6, 1);
  writeU32(header, 10, SystemCommand.Login);
  liar.socket.write(header);
  await liar.waitClosed();
  assert.equal(kickOf(liar)?.code, KickCode.ProtocolError);

  // Deeply nested credentials within the limit: an answer, not a crash.
  const deep = await RawClient.open(g.port);
  t.after(() => deep.close());
  const depth = Math.floor((MAX_BODY - 32) / 2);
  sendRaw(deep, 1, SystemCommand.Login, `{"credentials":${"[".repeat(depth)}${"]".repeat(depth)}}`);
  await expectError(deep, 1, ErrorCode.LoginRefused);

  assert.equal(near.closed, false, "the client that logged in with a big body is still there");
  await stillServes(g.url);
});

// ---- Resume bodies and tokens ----

test("Resume with a 10 KB token, or a lastSeq that is negative, fractional, above u32 or a string: BadPayload; forged tokens: ResumeRefused; the real session is untouched", async (t) => {
  const g = await gateway({ resumeWindowMs: 5000 });
  t.after(() => g.node.stop());
  const owner = await RawClient.open(g.port);
  sendRaw(owner, 1, SystemCommand.Login, JSON.stringify({ credentials: { name: "victim" } }));
  const { token, session } = await expectSession(owner, 1);
  owner.close();
  await waitFor(() => g.node.sessions.stats!.detached === 1, 2000, "the session to detach");

  const raw = await RawClient.open(g.port);
  t.after(() => raw.close());
  const badShapes: unknown[] = [
    { token: `${session}.${"A".repeat(10 * 1024)}`, lastSeq: 0 },
    { token: "x".repeat(257), lastSeq: 0 },
    { token, lastSeq: -1 },
    { token, lastSeq: 0.5 },
    { token, lastSeq: 2 ** 32 },
    { token, lastSeq: 1e300 },
    { token, lastSeq: "0" },
    { token, lastSeq: null },
    { token, lastSeq: [0] },
    { token },
    { lastSeq: 0 },
    { token: session, lastSeq: 0 },
    { token: [token], lastSeq: 0 },
    [token, 0],
    token,
    null,
  ];
  for (const [i, body] of badShapes.entries()) {
    sendRaw(raw, 100 + i, SystemCommand.Resume, JSON.stringify(body));
    await expectError(raw, 100 + i, ErrorCode.BadPayload, `resume body ${JSON.stringify(body).slice(0, 80)}`);
  }
  sendRaw(raw, 99, SystemCommand.Resume, "not json at all");
  await expectError(raw, 99, ErrorCode.BadPayload);

  const secret = token.slice(token.indexOf(".") + 1);
  const forged = [
    "",
    ".",
    "abc",
    `${session}.`,
    `${session}.${"A".repeat(secret.length)}`,
    `${session}.${secret.slice(0, -1)}`,
    `${session}.${secret}x`,
    `${session + 1}.${secret}`,
    `0.${secret}`,
    `-1.${secret}`,
    `4294967296.${secret}`,
    `NaN.${secret}`,
    `${"9".repeat(200)}.${secret}`,
    `${session}.${"A".repeat(240)}`,
  ];
  for (const [i, forgedToken] of forged.entries()) {
    sendRaw(raw, 200 + i, SystemCommand.Resume, JSON.stringify({ token: forgedToken, lastSeq: 0 }));
    await expectError(raw, 200 + i, ErrorCode.ResumeRefused, `token ${JSON.stringify(forgedToken).slice(0, 60)}`);
  }
  // The right token with a lastSeq the session never reached is refused too, without using the token.
  sendRaw(raw, 300, SystemCommand.Resume, JSON.stringify({ token, lastSeq: 0xffff_ffff }));
  await expectError(raw, 300, ErrorCode.ResumeRefused);
  assert.equal(raw.closed, false);
  assert.equal(g.node.sessions.stats!.resumed, 0);

  // The owner comes back with its token: nothing above hijacked or burnt it.
  const back = await RawClient.open(g.port);
  t.after(() => back.close());
  sendRaw(back, 1, SystemCommand.Resume, JSON.stringify({ token, lastSeq: 0 }));
  const resumed = await expectSession(back, 1);
  assert.equal(resumed.session, session);
  assert.equal(resumed.uid, "victim");
  await stillServes(g.url);
});

// ---- system commands a client may not send ----

interface HookCounts {
  enter: number;
  leave: number;
  offline: number;
}

/** Counts a node's scene hooks; with `scene`, it also answers Where. */
function hookCounter(counts: HookCounts, scene?: string) {
  return defineApp((node) => {
    node.sessions.onEnter(() => void counts.enter++);
    node.sessions.onLeave(() => void counts.leave++);
    node.sessions.onOffline(() => void counts.offline++);
    if (scene !== undefined) node.commands.handle(Where, (_req, ctx) => ({ uid: ctx.session!.uid, scene }));
  });
}

test("a client sending Enter, Leave or unknown system command ids gets UnknownCommand and no scene hook runs; notifies of system commands are dropped", async (t) => {
  const scene1: HookCounts = { enter: 0, leave: 0, offline: 0 };
  const scene2: HookCounts = { enter: 0, leave: 0, offline: 0 };
  const atGateway: HookCounts = { enter: 0, leave: 0, offline: 0 };
  const c = await sessionCluster({
    shape: "root",
    scenes: ["scene1", "scene2"],
    apps: { scene1: hookCounter(scene1, "scene1"), scene2: hookCounter(scene2, "scene2"), gateway: hookCounter(atGateway) },
  });
  t.after(() => c.stop());
  const gw = c.gateways.get("gateway")!;
  const port = portOf(gw, "tcp");
  const raw = await RawClient.open(port);
  t.after(() => raw.close());

  const hostile: Array<[number, string]> = [
    [SystemCommand.Enter, JSON.stringify({ fromScene: null })],
    [SystemCommand.Enter, JSON.stringify({ fromScene: "scene1", extra: { admin: true } })],
    [SystemCommand.Leave, JSON.stringify({ toScene: "scene2" })],
    [0xffff_ff55, "{}"],
    [0xffff_ffff, ""],
    [0xffff_ff00, "{}"],
    [0xffff_ff04, "{}"],
    [0xffff_ff12, "{}"],
  ];
  const sendAll = async (base: number) => {
    for (const [i, [cmd, body]] of hostile.entries()) {
      sendRaw(raw, base + i, cmd, body);
      const error = await expectError(raw, base + i, ErrorCode.UnknownCommand, `command 0x${cmd.toString(16)}`);
      assert.match(error.message, /unknown command/);
    }
  };

  // Before login.
  await sendAll(100);
  const dropped = gw.stats.droppedNotifies;
  for (const [cmd, body] of hostile) sendRaw(raw, 0, cmd, body, MessageType.Notify);
  sendRaw(raw, 0, SystemCommand.Login, JSON.stringify({ credentials: { name: "by-notify" } }), MessageType.Notify);
  await waitFor(() => gw.stats.droppedNotifies === dropped + hostile.length + 1, 2000, "the notifies to be dropped");
  assert.equal(gw.sessions.stats!.sessions, 0, "a Login notify logs nobody in");
  assert.equal(gw.sessions.stats!.logins, 0);

  // After login: one legitimate enter at scene1.
  sendRaw(raw, 1, SystemCommand.Login, JSON.stringify({ credentials: { name: "mallory" } }));
  await expectSession(raw, 1);
  await waitFor(() => scene1.enter === 1);
  await sendAll(200);
  for (const [cmd, body] of hostile) sendRaw(raw, 0, cmd, body, MessageType.Notify);
  sendRaw(raw, 0, SystemCommand.Logout, "{}", MessageType.Notify);
  await waitFor(() => gw.stats.droppedNotifies === dropped + 2 * hostile.length + 2, 2000, "the notifies to be dropped");
  await sleep(100);

  assert.deepEqual(scene1, { enter: 1, leave: 0, offline: 0 });
  assert.deepEqual(scene2, { enter: 0, leave: 0, offline: 0 });
  assert.deepEqual(atGateway, { enter: 0, leave: 0, offline: 0 });
  // The Logout notify did nothing either: the session is still there, still in scene1.
  assert.equal(gw.sessions.stats!.sessions, 1);
  sendRaw(raw, 2, Where.id, "null");
  const where = await replyTo(raw, 2);
  assert.equal(where.type, MessageType.Response);
  assert.deepEqual(json(where.body), { uid: "mallory", scene: "scene1" });
  assert.equal(raw.closed, false);
  await stillServes(c.tcp(), "where");
});

test("a node without sessions answers a client's Enter and Leave with UnknownCommand and runs no hook", async (t) => {
  const counts: HookCounts = { enter: 0, leave: 0, offline: 0 };
  const node = await startNode({ name: "plain", tcp: [{ port: 0 }], stopDeadlineMs: 200 }, [hookCounter(counts, "plain")]);
  t.after(() => node.stop());
  const raw = await RawClient.open(portOf(node, "tcp"));
  t.after(() => raw.close());
  for (const [i, cmd] of [SystemCommand.Enter, SystemCommand.Leave, SystemCommand.Login, SystemCommand.Resume, SystemCommand.Logout].entries()) {
    sendRaw(raw, i + 1, cmd, JSON.stringify({ fromScene: null, toScene: "x", credentials: {}, token: "1.x", lastSeq: 0 }));
    await expectError(raw, i + 1, ErrorCode.UnknownCommand, `command 0x${cmd.toString(16)}`);
  }
  await sleep(50);
  assert.deepEqual(counts, { enter: 0, leave: 0, offline: 0 });
  assert.equal(raw.closed, false);
});

// ---- floods and in-flight accounting ----

test("a pipelined burst of hostile frames leaks no in-flight slot: with maxInFlight 4, a good login and request still go through", async (t) => {
  const g = await gateway({}, { maxInFlight: 4 });
  t.after(() => g.node.stop());
  const raw = await RawClient.open(g.port);
  t.after(() => raw.close());
  const frames: Uint8Array[] = [];
  const add = (type: MessageType, id: number, cmd: number, body: string) => frames.push(raw.format.encode({ type, id, command: cmd, body: utf8(body) })!);
  let id = 1;
  for (let round = 0; round < 10; round++) {
    add(MessageType.Request, id++, SystemCommand.Login, "garbage");
    add(MessageType.Request, id++, SystemCommand.Resume, '{"token":"1.x","lastSeq":-1}');
    add(MessageType.Request, id++, SystemCommand.Resume, '{"token":"1.x","lastSeq":0}');
    add(MessageType.Request, id++, SystemCommand.Logout, "");
    add(MessageType.Request, id++, SystemCommand.Enter, "{}");
    add(MessageType.Request, id++, 0xffff_ff77, "{}");
    add(MessageType.Request, id++, Echo.id, '{"text":"early"}');
    add(MessageType.Notify, 0, Echo.id, '{"text":"early"}');
    add(MessageType.Notify, 0, SystemCommand.Login, '{"credentials":{"name":"n"}}');
  }
  const requests = id - 1;
  raw.socket.write(Buffer.concat(frames));
  await waitFor(() => raw.messages.filter((m) => m.type === MessageType.Error).length === requests, 3000, "an answer to every request");
  const codes = raw.messages.filter((m) => m.type === MessageType.Error).map((m) => (json(m.body) as ErrorBody).code);
  assert.ok(!codes.includes(ErrorCode.TooManyInFlight), "every frame was answered at once, none refused for slots");
  assert.deepEqual([...new Set(codes)].sort((a, b) => a - b), [ErrorCode.UnknownCommand, ErrorCode.BadPayload, ErrorCode.LoginRequired, ErrorCode.ResumeRefused].sort((a, b) => a - b));
  raw.messages.length = 0;

  // Nothing leaked: a login, then four requests at once (all four slots) go through.
  sendRaw(raw, 1000, SystemCommand.Login, JSON.stringify({ credentials: { name: "survivor" } }));
  assert.equal((await expectSession(raw, 1000)).uid, "survivor");
  for (let i = 0; i < 4; i++) sendRaw(raw, 1001 + i, Echo.id, JSON.stringify({ text: `t${i}` }));
  for (let i = 0; i < 4; i++) assert.equal((await replyTo(raw, 1001 + i)).type, MessageType.Response);
  assert.equal(g.node.stats.inFlight, 0);
  assert.equal(g.node.sessions.stats!.sessions, 1);
});

test("pipelined Logins on one connection: one session, every other login refused, other connections unaffected", async (t) => {
  const g = await gateway({}, { maxInFlight: 64 }, 20);
  t.after(() => g.node.stop());
  const raw = await RawClient.open(g.port);
  t.after(() => raw.close());
  const frames: Uint8Array[] = [];
  for (let i = 1; i <= 20; i++) frames.push(raw.format.encode({ type: MessageType.Request, id: i, command: SystemCommand.Login, body: utf8(JSON.stringify({ credentials: { name: `p${i}` } })) })!);
  raw.socket.write(Buffer.concat(frames));
  const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => replyTo(raw, i + 1)));
  const ok = replies.filter((m) => m.type === MessageType.Response);
  assert.equal(ok.length, 1, "exactly one login took");
  for (const m of replies) {
    if (m.type === MessageType.Response) continue;
    const code = (json(m.body) as ErrorBody).code;
    assert.ok(code === ErrorCode.LoginRefused || code === ErrorCode.AlreadyLoggedIn, `code ${code}`);
  }
  const stats = g.node.sessions.stats!;
  assert.equal(stats.sessions, 1);
  assert.equal(stats.logins, 1);
  const uid = (json(ok[0]!.body) as { uid: string }).uid;
  sendRaw(raw, 50, Echo.id, JSON.stringify({ text: "x" }));
  assert.deepEqual(json((await replyTo(raw, 50)).body), { text: "x", uid });
  await stillServes(g.url);
});

// ---- disconnects in the middle of a login ----

test("a connection that closes while verify runs leaves no session", async (t) => {
  const g = await gateway({}, {}, 150);
  t.after(() => g.node.stop());
  const raw = await RawClient.open(g.port);
  sendRaw(raw, 1, SystemCommand.Login, JSON.stringify({ credentials: { name: "ghost" } }));
  await waitFor(() => g.verified.length === 1, 2000, "verify to start");
  raw.close();
  await sleep(300);
  const stats = g.node.sessions.stats!;
  assert.equal(stats.sessions, 0);
  assert.equal(stats.logins, 0);
  assert.equal(g.node.stats.inFlight, 0);
  // The uid is free.
  const client = await connect(g.url, { reconnect: false, login: () => ({ name: "ghost" }) });
  t.after(() => client.close());
  assert.equal(client.session?.uid, "ghost");
  assert.equal(g.node.sessions.stats!.replaced, 0);
});

test("a connection that closes while its scene's enter runs: the session detaches, and when the resume window passes the scene gets offline", async (t) => {
  const events: string[] = [];
  const slowScene = defineApp((node) => {
    node.sessions.onEnter(async (s: SessionRef) => {
      events.push(`enter:${s.id}`);
      await sleep(200);
    });
    node.sessions.onOffline((s) => void events.push(`offline:${s.id}`));
  });
  const c = await sessionCluster({ shape: "root", scenes: ["scene1"], sessions: { resumeWindowMs: 300 }, apps: { scene1: slowScene } });
  t.after(() => c.stop());
  const gw = c.gateways.get("gateway")!;
  const raw = await RawClient.open(portOf(gw, "tcp"));
  sendRaw(raw, 1, SystemCommand.Login, JSON.stringify({ credentials: { name: "flaky" } }));
  await waitFor(() => events.length === 1, 2000, "enter to start");
  raw.close();
  await waitFor(() => gw.sessions.stats!.detached === 1, 2000, "the session to detach");
  await waitFor(() => events.length === 2, 3000, "offline after the resume window");
  assert.deepEqual(events, ["enter:1", "offline:1"]);
  assert.equal(gw.sessions.stats!.sessions, 0);
  const client = await connect(c.tcp(), { reconnect: false, login: () => ({ name: "flaky" }) });
  t.after(() => client.close());
  assert.equal(client.session?.uid, "flaky");
});
