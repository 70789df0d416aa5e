/**
 * Logging in at a session gateway, over real loopback sockets: commands before login, refused
 * logins (verify throwing, failing, hanging, returning garbage), the login timeout, duplicate
 * uids (kickOld and refuseNew, one at a time and as a flood), maxSessions, AlreadyLoggedIn,
 * and logout. Raw sockets where the exact frames matter, the SDK where its behaviour does.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect as netConnect, createServer, type Server, type Socket } from "node:net";
import {
  command,
  CommandError,
  defineApp,
  ErrorCode,
  KickCode,
  MessageType,
  SystemCommand,
  type App,
  type Message,
  type Node,
  type SessionRef,
  type SessionSettingsInput,
  type VerifyHook,
} from "../../src/index.ts";
import { connect, type Client, type KickBody } from "../../src/client/index.ts";
import { captureLogger, json, portOf, RawClient, sleep, startNode, waitFor } from "../helpers.ts";
import { sessionCluster } from "./cluster.ts";

const Where = command<null, { uid: string; id: number; scene: string }>(10, { name: "where" });
const Note = command<{ n: number }, void>(11, { name: "note" });

// ---- raw frames ----

interface ErrorBody {
  code: number;
  message: string;
}
interface SessionReplyBody {
  session: number;
  uid: string;
  scene: string;
  token: string;
}

function sendLogin(raw: RawClient, id: number, credentials: unknown): void {
  raw.request(id, SystemCommand.Login, { credentials });
}

/** The reply (Response or Error) to request `id`, taken from the client's frames. */
function replyTo(raw: RawClient, id: number, timeoutMs = 3000): Promise<Message> {
  return raw.next((m) => m.id === id && (m.type === MessageType.Response || m.type === MessageType.Error), timeoutMs);
}

async function expectError(raw: RawClient, id: number, code: number, message?: RegExp | string): Promise<ErrorBody> {
  const m = await replyTo(raw, id);
  assert.equal(m.type, MessageType.Error, `request ${id}: expected an Error frame, got type ${m.type}`);
  const body = json(m.body) as ErrorBody;
  assert.equal(body.code, code, `request ${id}: ${JSON.stringify(body)}`);
  if (typeof message === "string") assert.equal(body.message, message);
  else if (message !== undefined) assert.match(body.message, message);
  return body;
}

async function expectSession(raw: RawClient, id: number): Promise<SessionReplyBody> {
  const m = await replyTo(raw, id);
  assert.equal(m.type, MessageType.Response, `request ${id}: expected a Response, got ${m.type === MessageType.Error ? JSON.stringify(json(m.body)) : m.type}`);
  return json(m.body) as SessionReplyBody;
}

function kickOf(raw: RawClient): KickBody | undefined {
  const m = raw.messages.find((x) => x.type === MessageType.Kick);
  return m === undefined ? undefined : (json(m.body) as KickBody);
}

async function refusal(promise: Promise<unknown>): Promise<CommandError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof CommandError, `expected a CommandError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected the promise to reject");
}

// ---- nodes ----

/** A gateway on its own (no scenes: sessions have no scene, commands run at the gateway). */
async function standalone(sessions: SessionSettingsInput, verify: VerifyHook, app?: App) {
  const { logger, lines } = captureLogger();
  const apps: App[] = [defineApp((node) => node.sessions.verify(verify))];
  if (app) apps.push(app);
  const node = await startNode({ name: "gw", tcp: [{ port: 0 }], sessions, stopDeadlineMs: 200 }, apps, logger);
  const port = portOf(node, "tcp");
  return { node, lines, port, url: `tcp://127.0.0.1:${port}` };
}

const nameOf = (credentials: unknown): string => {
  const name = (credentials as { name?: unknown } | null)?.name;
  if (typeof name !== "string" || name.length === 0) throw new CommandError(ErrorCode.LoginRefused, "a name is required");
  return name;
};

interface SceneEvent {
  kind: "enter" | "leave" | "offline";
  id: number;
  uid: string;
}

/** A scene that logs its hooks and answers Where and Note (counted). */
function sceneApp(name: string, events: SceneEvent[], counts: { where: number; note: number }) {
  return defineApp((node) => {
    node.sessions.onEnter((s: SessionRef) => void events.push({ kind: "enter", id: s.id, uid: s.uid }));
    node.sessions.onLeave((s) => void events.push({ kind: "leave", id: s.id, uid: s.uid }));
    node.sessions.onOffline((s) => void events.push({ kind: "offline", id: s.id, uid: s.uid }));
    node.commands.handle(Where, (_req, ctx) => {
      counts.where++;
      return { uid: ctx.session!.uid, id: ctx.session!.id, scene: name };
    });
    node.commands.handle(Note, () => {
      counts.note++;
    });
  });
}

async function sceneCluster(shape: "root" | "gate", sessions: SessionSettingsInput = {}) {
  const events: SceneEvent[] = [];
  const counts = { where: 0, note: 0 };
  const c = await sessionCluster({ shape, scenes: ["scene1"], sessions, apps: { scene1: sceneApp("scene1", events, counts) } });
  const gateway = c.gateways.get("gateway")!;
  return { c, gateway, events, counts, port: portOf(gateway, "tcp") };
}

const stats = (node: Node) => node.sessions.stats!;
const sortEvents = (list: readonly SceneEvent[]): SceneEvent[] => [...list].sort((a, b) => a.id - b.id || a.kind.localeCompare(b.kind));

/** A TCP proxy that can cut every connection through it (a dropped link, seen from both ends). */
async function proxy(targetPort: number): Promise<{ port: number; cut(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => s.destroy());
  };
  const server: Server = createServer((down) => {
    const up = netConnect({ port: targetPort, host: "127.0.0.1" });
    track(down);
    track(up);
    down.pipe(up);
    up.pipe(down);
    down.on("close", () => up.destroy());
    up.on("close", () => down.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === "object");
  const cut = () => {
    for (const s of sockets) s.destroy();
  };
  return {
    port: address.port,
    cut,
    close: () => {
      cut();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---- commands before login ----

test("before login: a request gets LoginRequired and its scene handler never runs; a notify is dropped; the connection can then log in", async (t) => {
  const { c, gateway, counts, port } = await sceneCluster("root");
  t.after(() => c.stop());
  const raw = await RawClient.open(port);
  t.after(() => raw.close());

  raw.request(1, Where.id, null);
  await expectError(raw, 1, ErrorCode.LoginRequired);
  const droppedBefore = gateway.stats.droppedNotifies;
  raw.send({ type: MessageType.Notify, id: 0, command: Note.id, body: new TextEncoder().encode(JSON.stringify({ n: 1 })) });
  await waitFor(() => gateway.stats.droppedNotifies === droppedBefore + 1, 2000, "the notify to be dropped");
  await sleep(50);
  assert.deepEqual(counts, { where: 0, note: 0 }, "no handler ran before login");
  assert.equal(raw.closed, false, "the connection stays open");
  assert.equal(kickOf(raw), undefined);

  sendLogin(raw, 2, { name: "alice" });
  const session = await expectSession(raw, 2);
  assert.equal(session.uid, "alice");
  raw.request(3, Where.id, null);
  const where = await replyTo(raw, 3);
  assert.equal(where.type, MessageType.Response);
  assert.deepEqual(json(where.body), { uid: "alice", id: session.session, scene: "scene1" });
  raw.send({ type: MessageType.Notify, id: 0, command: Note.id, body: new TextEncoder().encode(JSON.stringify({ n: 2 })) });
  await waitFor(() => counts.note === 1, 2000, "the notify after login to run");
  assert.equal(counts.where, 1);
});

test("before login at a gateway's own handlers: LoginRequired, the handler never runs, notifies dropped; the SDK without login sees code 10", async (t) => {
  let requests = 0;
  let notes = 0;
  const g = await standalone({}, (cred) => ({ uid: nameOf(cred) }), (node) => {
    node.commands.handle(Where, (_req, ctx) => {
      requests++;
      return { uid: ctx.session?.uid ?? "-", id: ctx.session?.id ?? 0, scene: "" };
    });
    node.commands.handle(Note, () => {
      notes++;
    });
  });
  t.after(() => g.node.stop());

  const anonymous = await connect(g.url, { reconnect: false });
  t.after(() => anonymous.close());
  for (let i = 0; i < 3; i++) {
    const err = await refusal(anonymous.request(Where, null));
    assert.equal(err.code, ErrorCode.LoginRequired);
  }
  assert.equal(anonymous.notify(Note, { n: 1 }), true);
  await waitFor(() => g.node.stats.droppedNotifies === 1, 2000, "the notify to be dropped");
  assert.equal(requests, 0);
  assert.equal(notes, 0);
  assert.equal(anonymous.state, "open");

  const client = await connect(g.url, { reconnect: false, login: () => ({ name: "bob" }) });
  t.after(() => client.close());
  assert.deepEqual(await client.request(Where, null), { uid: "bob", id: client.session!.session, scene: "" });
  client.notify(Note, { n: 2 });
  await waitFor(() => notes === 1, 2000, "the logged-in notify to run");
  assert.equal(requests, 1);
});

// ---- refused logins ----

test("verify throwing a CommandError: LoginRefused with its message (whatever its code); a plain Error: 'login refused', details only in the log", async (t) => {
  const g = await standalone({}, (cred) => {
    const c = cred as { how?: string };
    if (c.how === "command") throw new CommandError(1234, "wrong password for alice");
    if (c.how === "plain") throw new Error("database said: password hash hunter2 mismatched");
    if (c.how === "string") throw "a thrown string with secret s3cr3t"; // eslint-disable-line @typescript-eslint/only-throw-error
    return { uid: "ok" };
  });
  t.after(() => g.node.stop());

  const byCommand = await refusal(connect(g.url, { reconnect: false, login: () => ({ how: "command" }) }));
  assert.equal(byCommand.code, ErrorCode.LoginRefused);
  assert.equal(byCommand.message, "wrong password for alice");

  const byPlain = await refusal(connect(g.url, { reconnect: false, login: () => ({ how: "plain" }) }));
  assert.equal(byPlain.code, ErrorCode.LoginRefused);
  assert.equal(byPlain.message, "login refused");
  assert.ok(g.lines.some((l) => l.includes("verify hook failed") && l.includes("hunter2")), "the failure is logged with its details");

  const byString = await refusal(connect(g.url, { reconnect: false, login: () => ({ how: "string" }) }));
  assert.equal(byString.code, ErrorCode.LoginRefused);
  assert.equal(byString.message, "login refused");
  assert.ok(g.lines.some((l) => l.includes("s3cr3t")));

  assert.equal(stats(g.node).sessions, 0);
  assert.equal(stats(g.node).loginsRefused, 3);
  const fine = await connect(g.url, { reconnect: false, login: () => ({ how: "fine" }) });
  t.after(() => fine.close());
  assert.equal(fine.session?.uid, "ok");
  assert.equal(stats(g.node).sessions, 1);
});

test("a refused login leaves a raw connection open and it may try again", async (t) => {
  const g = await standalone({}, (cred) => ({ uid: nameOf(cred) }));
  t.after(() => g.node.stop());
  const raw = await RawClient.open(g.port);
  t.after(() => raw.close());
  sendLogin(raw, 1, {});
  await expectError(raw, 1, ErrorCode.LoginRefused, "a name is required");
  sendLogin(raw, 2, null);
  await expectError(raw, 2, ErrorCode.LoginRefused, "a name is required");
  assert.equal(raw.closed, false);
  sendLogin(raw, 3, { name: "carol" });
  assert.equal((await expectSession(raw, 3)).uid, "carol");
});

test("verify that hangs is refused after sessions.verifyTimeoutMs", async (t) => {
  let calls = 0;
  const g = await standalone({ verifyTimeoutMs: 200 }, (cred) => {
    calls++;
    if ((cred as { hang?: boolean }).hang) return new Promise(() => {});
    return { uid: "quick" };
  });
  t.after(() => g.node.stop());
  const started = Date.now();
  const err = await refusal(connect(g.url, { reconnect: false, login: () => ({ hang: true }) }));
  const elapsed = Date.now() - started;
  assert.equal(err.code, ErrorCode.LoginRefused);
  assert.match(err.message, /verify did not answer within 200 ms/);
  assert.ok(elapsed >= 190 && elapsed < 1500, `refused after ${elapsed} ms`);
  assert.equal(calls, 1);
  assert.equal(stats(g.node).sessions, 0);

  // The gateway is not stuck behind the hung verify.
  const raw = await RawClient.open(g.port);
  t.after(() => raw.close());
  sendLogin(raw, 1, { hang: true });
  const fine = await connect(g.url, { reconnect: false, login: () => ({}) });
  t.after(() => fine.close());
  assert.equal(fine.session?.uid, "quick");
  await expectError(raw, 1, ErrorCode.LoginRefused, /200 ms/);
});

test("verify returning garbage is refused with a clear message; values at the limits are accepted", async (t) => {
  const cases: Array<{ verdict: unknown; refused?: RegExp; uid?: string }> = [
    { verdict: {}, refused: /uid that is not a string of 1-128 bytes/ },
    { verdict: { uid: "" }, refused: /uid that is not a string of 1-128 bytes/ },
    { verdict: { uid: "x".repeat(129) }, refused: /uid that is not a string of 1-128 bytes/ },
    { verdict: { uid: "é".repeat(65) }, refused: /uid that is not a string of 1-128 bytes/ }, // 65 characters, 130 bytes
    { verdict: { uid: ["alice"] }, refused: /uid that is not a string/ },
    { verdict: { uid: { name: "alice" } }, refused: /uid that is not a string/ },
    { verdict: { uid: null }, refused: /uid that is not a string/ },
    { verdict: null, refused: /verify returned no verdict/ },
    { verdict: undefined, refused: /verify returned no verdict/ },
    { verdict: "alice", refused: /verify returned no verdict/ },
    { verdict: { uid: "a", data: [1, 2] }, refused: /data that is not an object/ },
    { verdict: { uid: "a", data: "text" }, refused: /data that is not an object/ },
    { verdict: { uid: "a", data: null }, refused: /data that is not an object/ },
    { verdict: { uid: "a", data: { blob: "x".repeat(300) } }, refused: /exceeds sessions\.maxDataBytes \(256\)/ },
    { verdict: { uid: "a", data: { n: 1n } }, refused: /session data is not JSON/ },
    { verdict: { uid: "a", scene: "" }, refused: /scene that is not a node name/ },
    { verdict: { uid: "a", scene: 7 }, refused: /scene that is not a node name/ },
    // Accepted: the limits themselves.
    { verdict: { uid: "é".repeat(64) }, uid: "é".repeat(64) }, // 128 bytes
    { verdict: { uid: "y".repeat(128) }, uid: "y".repeat(128) },
    { verdict: { uid: 42 }, uid: "42" },
    { verdict: { uid: "d", data: { blob: "x".repeat(256 - '{"blob":""}'.length) } }, uid: "d" }, // exactly 256 bytes
  ];
  const g = await standalone({ maxDataBytes: 256 }, (cred) => cases[(cred as { i: number }).i]!.verdict as never);
  t.after(() => g.node.stop());
  const accepted: Client[] = [];
  t.after(() => accepted.forEach((c) => c.close()));
  for (const [i, c] of cases.entries()) {
    const attempt = connect(g.url, { reconnect: false, login: () => ({ i }) });
    if (c.refused) {
      const err = await refusal(attempt);
      assert.equal(err.code, ErrorCode.LoginRefused, `case ${i}`);
      assert.match(err.message, c.refused, `case ${i}: ${JSON.stringify(c.verdict, (_k, v: unknown) => (typeof v === "bigint" ? `${v}n` : v))}`);
    } else {
      const client = await attempt;
      accepted.push(client);
      assert.equal(client.session?.uid, c.uid, `case ${i}`);
    }
  }
  assert.equal(stats(g.node).sessions, accepted.length);
  assert.ok(g.lines.some((l) => l.includes("login refused") && l.includes("uid that is not a string")), "bad verdicts are logged");
});

test("the SDK: a refused login on a reconnect closes the client instead of retrying", async (t) => {
  let calls = 0;
  // Resume off: a reconnect logs in afresh, and this verify refuses every login after the first.
  const g = await standalone({ resumeWindowMs: 0 }, () => {
    calls++;
    if (calls > 1) throw new CommandError(ErrorCode.LoginRefused, "banned");
    return { uid: "dave" };
  });
  t.after(() => g.node.stop());
  const link = await proxy(g.port);
  t.after(() => link.close());
  const client = await connect(`tcp://127.0.0.1:${link.port}`, { login: () => ({}), reconnect: { initialDelayMs: 20, maxDelayMs: 40 } });
  t.after(() => client.close());
  const states: string[] = [];
  client.onStateChange((s) => states.push(s));
  assert.equal(client.session?.uid, "dave");

  link.cut();
  await waitFor(() => client.state === "closed", 3000, "the client to close");
  assert.deepEqual(states, ["reconnecting", "closed"]);
  await sleep(300); // several backoff periods: it must not try again
  assert.equal(calls, 2, "one login, one refused re-login, no retries");
  assert.equal(client.state, "closed");
  assert.equal(stats(g.node).sessions, 0);
});

test("the SDK: a refused resume falls back to login, and a refused login then closes the client", async (t) => {
  let calls = 0;
  const g = await standalone({ resumeWindowMs: 50 }, () => {
    calls++;
    if (calls > 1) throw new CommandError(ErrorCode.LoginRefused, "banned");
    return { uid: "erin" };
  });
  t.after(() => g.node.stop());
  const link = await proxy(g.port);
  t.after(() => link.close());
  // The first reconnect comes after the resume window: the resume is refused.
  const client = await connect(`tcp://127.0.0.1:${link.port}`, { login: () => ({}), reconnect: { initialDelayMs: 300, maxDelayMs: 300, jitter: 0 } });
  t.after(() => client.close());
  const hows: string[] = [];
  client.onSession((_s, how) => hows.push(how));
  link.cut();
  await waitFor(() => client.state === "closed", 3000, "the client to close");
  assert.equal(stats(g.node).resumesRefused, 1);
  assert.equal(calls, 2);
  await sleep(200);
  assert.equal(calls, 2);
  assert.deepEqual(hows, []);
});

// ---- login timeout ----

test("a connection that handshakes and never logs in is kicked with LoginTimeout after sessions.loginTimeoutMs", async (t) => {
  const g = await standalone({ loginTimeoutMs: 250 }, (cred) => ({ uid: nameOf(cred) }));
  t.after(() => g.node.stop());
  const started = Date.now();
  const idle = await RawClient.open(g.port);
  const refused = await RawClient.open(g.port);
  const loggedIn = await RawClient.open(g.port);
  t.after(() => [idle, refused, loggedIn].forEach((r) => r.close()));
  sendLogin(refused, 1, {});
  await expectError(refused, 1, ErrorCode.LoginRefused);
  sendLogin(loggedIn, 1, { name: "frank" });
  await expectSession(loggedIn, 1);

  const kick = await idle.next((m) => m.type === MessageType.Kick, 3000);
  const elapsed = Date.now() - started;
  assert.equal((json(kick.body) as KickBody).code, KickCode.LoginTimeout);
  assert.ok(elapsed >= 240 && elapsed < 1500, `kicked after ${elapsed} ms`);
  await idle.waitClosed();
  await refused.waitClosed();
  assert.equal(kickOf(refused)?.code, KickCode.LoginTimeout, "a refused login is still no login");
  await sleep(200);
  assert.equal(loggedIn.closed, false, "a logged-in connection is not kicked");
  assert.equal(kickOf(loggedIn), undefined);
});

// ---- duplicate uids ----

for (const shape of ["root", "gate"] as const) {
  test(`${shape} shape, kickOld: a second login as the same uid kicks the first with Replaced (the SDK does not reconnect); the scene gets offline for the old, enter for the new`, async (t) => {
    const { c, gateway, events, port } = await sceneCluster(shape);
    t.after(() => c.stop());
    const url = `tcp://127.0.0.1:${port}`;
    const first = await connect(url, { login: () => ({ name: "same" }), reconnect: { initialDelayMs: 20, maxDelayMs: 40 } });
    t.after(() => first.close());
    const kicks: KickBody[] = [];
    first.onKick((k) => kicks.push(k));
    const oldId = first.session!.session;
    await waitFor(() => events.length === 1);

    const second = await connect(url, { login: () => ({ name: "same" }), reconnect: false });
    t.after(() => second.close());
    const newId = second.session!.session;
    assert.notEqual(newId, oldId);
    await waitFor(() => first.state === "closed", 3000, "the first client to close");
    assert.deepEqual(
      kicks.map((k) => k.code),
      [KickCode.Replaced],
    );
    await waitFor(() => events.length >= 3, 3000, "the scene hooks");
    // The order of the last two is not asserted here (see the report: offline of the old session
    // runs after enter of the new one at the scene).
    assert.deepEqual(events[0], { kind: "enter", id: oldId, uid: "same" });
    assert.deepEqual(
      sortEvents(events.slice(1)),
      sortEvents([
        { kind: "offline", id: oldId, uid: "same" },
        { kind: "enter", id: newId, uid: "same" },
      ]),
    );
    assert.deepEqual(await second.request(Where, null), { uid: "same", id: newId, scene: "scene1" });

    await sleep(200); // backoff periods: the replaced client must stay closed
    assert.equal(first.state, "closed");
    const s = stats(gateway);
    assert.equal(s.sessions, 1);
    assert.equal(s.logins, 2);
    assert.equal(s.replaced, 1);
    assert.equal(events.length, 3);
  });
}

test("refuseNew: a second login as the same uid is refused and the first keeps working", async (t) => {
  const { c, gateway, events, port } = await sceneCluster("root", { duplicateLogin: "refuseNew" });
  t.after(() => c.stop());
  const url = `tcp://127.0.0.1:${port}`;
  const first = await connect(url, { login: () => ({ name: "same" }), reconnect: false });
  t.after(() => first.close());
  const kicks: KickBody[] = [];
  first.onKick((k) => kicks.push(k));
  const err = await refusal(connect(url, { login: () => ({ name: "same" }), reconnect: false }));
  assert.equal(err.code, ErrorCode.LoginRefused);
  assert.match(err.message, /uid same is already logged in/);
  assert.deepEqual(await first.request(Where, null), { uid: "same", id: first.session!.session, scene: "scene1" });
  await sleep(50);
  assert.deepEqual(kicks, []);
  assert.equal(first.state, "open");
  assert.deepEqual(events, [{ kind: "enter", id: first.session!.session, uid: "same" }]);
  assert.equal(stats(gateway).sessions, 1);
  assert.equal(stats(gateway).replaced, 0);
});

// ---- a flood of logins with one uid ----

const FLOOD = 50;

interface FloodOutcome {
  raw: RawClient;
  reply: Message | undefined;
}

async function flood(port: number): Promise<FloodOutcome[]> {
  const raws = await Promise.all(Array.from({ length: FLOOD }, () => RawClient.open(port)));
  for (const raw of raws) sendLogin(raw, 7, { name: "same" });
  // Every connection gets an answer to its login, or is closed (kicked while logging in).
  await waitFor(() => raws.every((r) => r.closed || r.messages.some((m) => m.id === 7 && m.type !== MessageType.Push && m.type !== MessageType.Kick)), 10_000, "every login to settle");
  return raws.map((raw) => ({ raw, reply: raw.messages.find((m) => m.id === 7 && (m.type === MessageType.Response || m.type === MessageType.Error)) }));
}

/** Poll until `ok()` holds and keeps holding for a moment (or the time is up). */
async function settle(ok: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (ok()) {
      await sleep(100);
      if (ok()) return;
    }
    await sleep(10);
  }
}

test(`kickOld: ${FLOOD} concurrent logins as one uid end with exactly one session; the others were replaced or refused; the survivor and newcomers are served`, async (t) => {
  const { c, gateway, events, port } = await sceneCluster("root");
  t.after(() => c.stop());
  const outcomes = await flood(port);
  t.after(() => outcomes.forEach((o) => o.raw.close()));
  await settle(() => stats(gateway).sessions === 1 && outcomes.filter((o) => !o.raw.closed).length === 1);

  assert.equal(stats(gateway).sessions, 1);
  const open = outcomes.filter((o) => !o.raw.closed);
  assert.equal(open.length, 1, "exactly one connection is left");
  const winner = open[0]!;
  assert.equal(winner.reply?.type, MessageType.Response);
  assert.equal(kickOf(winner.raw), undefined);
  const winnerId = (json(winner.reply.body) as SessionReplyBody).session;
  for (const [i, o] of outcomes.entries()) {
    if (o === winner) continue;
    const kicked = kickOf(o.raw)?.code === KickCode.Replaced;
    const refused = o.reply?.type === MessageType.Error && (json(o.reply.body) as ErrorBody).code === ErrorCode.LoginRefused;
    assert.ok(kicked || refused, `connection ${i}: kick ${JSON.stringify(kickOf(o.raw))}, reply ${o.reply ? JSON.stringify(json(o.reply.body)) : "none"}`);
  }

  // The survivor works; so does a newcomer.
  winner.raw.request(8, Where.id, null);
  const where = await replyTo(winner.raw, 8);
  assert.equal(where.type, MessageType.Response);
  assert.deepEqual(json(where.body), { uid: "same", id: winnerId, scene: "scene1" });
  const newcomer = await connect(`tcp://127.0.0.1:${port}`, { login: () => ({ name: "newcomer" }), reconnect: false });
  t.after(() => newcomer.close());
  assert.equal((await newcomer.request(Where, null)).uid, "newcomer");

  // The scene saw the survivor enter and never go offline, and no offline without an enter.
  // (That every replaced session that entered also goes offline — enters − offlines === 1 — is
  // not asserted here: it fails today; see test/session/failing-login.test.ts and the report.)
  await sleep(100);
  const same = events.filter((e) => e.uid === "same");
  const entered = same.filter((e) => e.kind === "enter").map((e) => e.id);
  const offline = same.filter((e) => e.kind === "offline").map((e) => e.id);
  assert.ok(entered.includes(winnerId), "the survivor entered its scene");
  assert.ok(!offline.includes(winnerId), "the survivor is not offline");
  assert.equal(new Set(entered).size, entered.length, "one enter per session");
  assert.ok(offline.every((id) => entered.includes(id)), "no offline without an enter");
});

test(`refuseNew: ${FLOOD} concurrent logins as one uid: one session, every other login refused, no kicks, one enter`, async (t) => {
  const { c, gateway, events, port } = await sceneCluster("root", { duplicateLogin: "refuseNew" });
  t.after(() => c.stop());
  const outcomes = await flood(port);
  t.after(() => outcomes.forEach((o) => o.raw.close()));
  await sleep(100);
  const accepted = outcomes.filter((o) => o.reply?.type === MessageType.Response);
  assert.equal(accepted.length, 1);
  for (const o of outcomes) {
    assert.equal(o.raw.closed, false, "nobody is kicked");
    assert.equal(kickOf(o.raw), undefined);
    if (o === accepted[0]) continue;
    assert.equal(o.reply?.type, MessageType.Error);
    const body = json(o.reply.body) as ErrorBody;
    assert.equal(body.code, ErrorCode.LoginRefused);
    assert.match(body.message, /already logged in/);
  }
  assert.equal(stats(gateway).sessions, 1);
  const winnerId = (json(accepted[0]!.reply!.body) as SessionReplyBody).session;
  assert.deepEqual(events, [{ kind: "enter", id: winnerId, uid: "same" }]);
  // The refused connections are still usable: one logs in under another name.
  const again = outcomes.find((o) => o !== accepted[0])!.raw;
  sendLogin(again, 9, { name: "other" });
  assert.equal((await expectSession(again, 9)).uid, "other");
  assert.equal(stats(gateway).sessions, 2);
});

// ---- maxSessions ----

test("maxSessions: the next login is refused with a clear message; detached sessions count; a replacing login and a freed slot get in", async (t) => {
  const g = await standalone({ maxSessions: 2, resumeWindowMs: 5000 }, (cred) => ({ uid: nameOf(cred) }));
  t.after(() => g.node.stop());
  const a = await RawClient.open(g.port);
  const b = await RawClient.open(g.port);
  const extra = await RawClient.open(g.port);
  t.after(() => [a, b, extra].forEach((r) => r.close()));
  sendLogin(a, 1, { name: "a" });
  await expectSession(a, 1);
  sendLogin(b, 1, { name: "b" });
  await expectSession(b, 1);

  sendLogin(extra, 1, { name: "c" });
  await expectError(extra, 1, ErrorCode.LoginRefused, /maximum of 2 sessions/);
  assert.equal(stats(g.node).sessions, 2);

  // A dropped connection leaves its session detached, still holding its slot.
  b.close();
  await waitFor(() => stats(g.node).detached === 1, 2000, "b's session to detach");
  sendLogin(extra, 2, { name: "c" });
  await expectError(extra, 2, ErrorCode.LoginRefused, /maximum of 2 sessions/);

  // Logging in as a uid that holds a slot replaces it (kickOld), even when full.
  sendLogin(extra, 3, { name: "b" });
  assert.equal((await expectSession(extra, 3)).uid, "b");
  assert.equal(stats(g.node).sessions, 2);

  // Logout frees a slot.
  a.request(2, SystemCommand.Logout, {});
  assert.equal((await replyTo(a, 2)).type, MessageType.Response);
  const d = await RawClient.open(g.port);
  t.after(() => d.close());
  sendLogin(d, 1, { name: "d" });
  assert.equal((await expectSession(d, 1)).uid, "d");
});

// ---- AlreadyLoggedIn ----

test("AlreadyLoggedIn: a second Login or a Resume on a connection that has a session; verify is not asked again", async (t) => {
  let calls = 0;
  const g = await standalone({}, (cred) => {
    calls++;
    return { uid: nameOf(cred) };
  });
  t.after(() => g.node.stop());
  const raw = await RawClient.open(g.port);
  t.after(() => raw.close());
  sendLogin(raw, 1, { name: "gina" });
  const session = await expectSession(raw, 1);
  assert.equal(calls, 1);

  sendLogin(raw, 2, { name: "gina" });
  await expectError(raw, 2, ErrorCode.AlreadyLoggedIn);
  sendLogin(raw, 3, { name: "someone-else" });
  await expectError(raw, 3, ErrorCode.AlreadyLoggedIn);
  raw.request(4, SystemCommand.Resume, { token: session.token, lastSeq: 0 });
  await expectError(raw, 4, ErrorCode.AlreadyLoggedIn);
  raw.request(5, SystemCommand.Resume, { token: "1.forged", lastSeq: 0 });
  await expectError(raw, 5, ErrorCode.AlreadyLoggedIn);
  assert.equal(calls, 1, "verify was not asked again");

  // Nothing changed: the same session, its token still resumes it elsewhere.
  assert.equal(stats(g.node).sessions, 1);
  assert.equal(stats(g.node).logins, 1);
  raw.close();
  await waitFor(() => stats(g.node).detached === 1, 2000, "the session to detach");
  const other = await RawClient.open(g.port);
  t.after(() => other.close());
  other.request(1, SystemCommand.Resume, { token: session.token, lastSeq: 0 });
  const resumed = await expectSession(other, 1);
  assert.equal(resumed.session, session.session);
  assert.equal(resumed.uid, "gina");
});

// ---- logout ----

test("logout ends the session (the scene gets offline, the uid is free) and its token no longer resumes it", async (t) => {
  const { c, gateway, events, port } = await sceneCluster("root");
  t.after(() => c.stop());
  const url = `tcp://127.0.0.1:${port}`;

  const stranger = await RawClient.open(port);
  t.after(() => stranger.close());
  stranger.request(1, SystemCommand.Logout, {});
  await expectError(stranger, 1, ErrorCode.LoginRequired);

  const client = await connect(url, { login: () => ({ name: "hank" }), reconnect: false });
  const { session: id, token } = client.session!;
  await waitFor(() => events.length === 1);
  await client.logout();
  assert.equal(client.state, "closed");
  await waitFor(() => events.length === 2, 3000, "offline at the scene");
  assert.deepEqual(events, [
    { kind: "enter", id, uid: "hank" },
    { kind: "offline", id, uid: "hank" },
  ]);
  assert.equal(stats(gateway).sessions, 0);
  assert.equal(stats(gateway).detached, 0);

  const raw = await RawClient.open(port);
  t.after(() => raw.close());
  raw.request(1, SystemCommand.Resume, { token, lastSeq: 0 });
  await expectError(raw, 1, ErrorCode.ResumeRefused);
  assert.equal(stats(gateway).resumesRefused, 1);

  // The uid is free: a new login gets a new session, and nobody is replaced.
  const again = await connect(url, { login: () => ({ name: "hank" }), reconnect: false });
  t.after(() => again.close());
  assert.notEqual(again.session!.session, id);
  assert.equal(stats(gateway).replaced, 0);
  await waitFor(() => events.length === 3);
  assert.deepEqual(events[2], { kind: "enter", id: again.session!.session, uid: "hank" });
});
