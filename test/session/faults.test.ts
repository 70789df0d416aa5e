/**
 * Sessions under faults: a session moved while its commands are in flight (none lost, none run
 * twice, a slow or failing enter); a scene node whose link dies with sessions in it (sceneLost
 * "kick" and a fallback scene, in both cluster shapes); a broadcast to hundreds of raw clients
 * of which some stop reading (they are dropped, everyone else gets everything in order).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect as netConnect, type Socket } from "node:net";
import {
  command,
  CommandError,
  defineApp,
  encodeControl,
  jsonCodec,
  KickCode,
  MessageType,
  nativeFormat,
  Node,
  push,
  SystemCommand,
  type KickBody,
  type Message,
  type SessionRef,
} from "../../src/index.ts";
import { connect, type Client } from "../../src/client/index.ts";
import { captureLogger, portOf, sleep, waitFor } from "../helpers.ts";
import { nameVerify, sessionCluster, type SessionCluster } from "./cluster.ts";

const Num = command<{ n: number }, number>(30);
const NumNotify = command<{ n: number }, null>(31);
const Where = command<null, { scene: string; id: number }>(32);
const Hello = push<string>(45);

/** The gateways' verify: `{ name, scene? }` credentials; the scene defaults to the config's (scene1). */
const sceneVerify = defineApp((node) => {
  node.sessions.verify((credentials) => {
    const c = credentials as { name: string; scene?: string };
    return { uid: c.name, ...(c.scene === undefined ? {} : { scene: c.scene }), data: { name: c.name } };
  });
});

// ---- a session moved while commands are in flight ----

const TOTAL = 300;
const TRIGGER = 100;
const ENTER_DELAY_MS = 100;

interface MoveRun {
  got: { scene1: number[]; scene2: number[] };
  /** The highest number the client has sent so far. */
  sent: number;
  /** `sent` when scene1 called changeScene, and when it settled. */
  startedAt: number | null;
  settledAt: number | null;
  error: unknown;
  move: Promise<void> | null;
}

function moveApp(name: "scene1" | "scene2", run: MoveRun, enter: "slow" | "throw") {
  return defineApp((node) => {
    node.sessions.onEnter(async (_s, from) => {
      if (name !== "scene2" || from === null) return;
      await sleep(ENTER_DELAY_MS);
      if (enter === "throw") throw new CommandError(4001, "scene2 is full");
    });
    const take = (n: number, session: SessionRef) => {
      run.got[name].push(n);
      if (name === "scene1" && n === TRIGGER) {
        run.startedAt = run.sent;
        run.move = node.sessions.changeScene(session, "scene2").then(
          () => void (run.settledAt = run.sent),
          (err: unknown) => {
            run.error = err;
            run.settledAt = run.sent;
          },
        );
      }
    };
    node.commands.handle(Num, (req, ctx) => {
      take(req.n, ctx.session!);
      return req.n;
    });
    node.commands.handle(NumNotify, (req, ctx) => {
      take(req.n, ctx.session!);
      return null;
    });
    node.commands.handle(Where, (_req, ctx) => ({ scene: name, id: ctx.session!.id }));
  });
}

for (const shape of ["root", "gate"] as const) {
  for (const enter of ["slow", "throw"] as const) {
    const title =
      enter === "slow"
        ? `${shape} shape: a session moved while ${TOTAL} numbered commands are in flight, the new scene's enter taking ${ENTER_DELAY_MS} ms: each runs exactly once, those sent after the move at the new scene`
        : `${shape} shape: a move whose enter throws while ${TOTAL} numbered commands are in flight: changeScene rejects, each command runs exactly once, all at the old scene`;
    test(title, async () => {
      const run: MoveRun = { got: { scene1: [], scene2: [] }, sent: 0, startedAt: null, settledAt: null, error: null, move: null };
      const c = await sessionCluster({ shape, scenes: ["scene1", "scene2"], apps: { scene1: moveApp("scene1", run, enter), scene2: moveApp("scene2", run, enter) } });
      try {
        const client = await connect(c.tcp(), { reconnect: false, login: () => ({ name: "mover" }) });
        // Back to back, every third number a request: at most 6 requests (18 commands) in flight,
        // well within the connection's maxInFlight (64), so nothing may be refused.
        const pending: Promise<void>[] = [];
        let slowest = 0;
        for (let n = 1; n <= TOTAL; n++) {
          if (n % 3 === 0) {
            const t = Date.now();
            pending.push(
              client.request(Num, { n }).then((echo) => {
                assert.equal(echo, n);
                slowest = Math.max(slowest, Date.now() - t);
              }),
            );
          } else {
            assert.equal(client.notify(NumNotify, { n }), true);
          }
          run.sent = n;
          if (pending.length >= 6) await pending.shift();
        }
        await Promise.all(pending);
        await waitFor(() => run.got.scene1.length + run.got.scene2.length >= TOTAL, 5000, `all ${TOTAL} commands to be handled`);
        await run.move;
        await sleep(50); // a duplicate would arrive about now

        const all = [...run.got.scene1, ...run.got.scene2].sort((a, b) => a - b);
        assert.deepEqual(all, Array.from({ length: TOTAL }, (_, i) => i + 1), "every number handled exactly once");
        assert.ok(run.startedAt !== null && run.settledAt !== null, "the move ran");
        assert.ok(run.settledAt < TOTAL, `the move settled mid-stream (after ${run.settledAt} of ${TOTAL} were sent)`);
        assert.ok(run.got.scene1.filter((n) => n <= TRIGGER).length === TRIGGER, "everything up to the trigger ran at scene1");
        // Commands sent while the new scene's enter ran waited for it.
        assert.ok(slowest >= ENTER_DELAY_MS * 0.8, `the slowest request took ${slowest} ms; commands should have waited for enter`);
        if (enter === "slow") {
          assert.equal(run.error, null);
          const settled = run.settledAt;
          const late = all.filter((n) => n > settled);
          assert.ok(late.length > 0);
          assert.deepEqual(
            late.filter((n) => !run.got.scene2.includes(n)),
            [],
            `numbers sent after changeScene resolved (at ${settled}) that did not go to scene2`,
          );
          assert.deepEqual(await client.request(Where, null), { scene: "scene2", id: client.session!.session });
        } else {
          assert.ok(run.error instanceof CommandError, `changeScene rejected with ${String(run.error)}`);
          assert.match(run.error.message, /scene2 is full/);
          assert.deepEqual(run.got.scene2, [], "nothing went to the scene that refused the session");
          assert.deepEqual(await client.request(Where, null), { scene: "scene1", id: client.session!.session });
        }
        client.close();
      } finally {
        await c.stop();
      }
    });
  }
}

// ---- a scene node lost with sessions in it ----

interface Enter {
  scene: string;
  uid: string;
  from: string | null;
  extra: unknown;
}

function lostApp(name: string, enters: Enter[]) {
  return defineApp((node) => {
    node.sessions.onEnter((s, from, extra) => {
      enters.push({ scene: name, uid: s.uid, from, extra });
    });
    node.commands.handle(Where, (_req, ctx) => ({ scene: name, id: ctx.session!.id }));
  });
}

interface Watched {
  uid: string;
  gateway: string;
  client: Client;
  /** Its session id, from the login. */
  id: number;
  kicks: KickBody[];
  hellos: string[];
  /** State changes and session events after login: a working client has none. */
  events: string[];
}

for (const shape of ["root", "gate"] as const) {
  for (const policy of ["kick", "fallback"] as const) {
    const title =
      policy === "kick"
        ? `${shape} shape: a scene whose link dies ends its sessions with SceneLost; sessions in other scenes are unaffected`
        : `${shape} shape: a scene whose link dies, with sceneLost fallback scene2: its sessions move to scene2 and keep working on the same connection`;
    test(title, async () => {
      const enters: Enter[] = [];
      const gateways = shape === "gate" ? ["gw1", "gw2"] : ["gateway"];
      const c: SessionCluster = await sessionCluster({
        shape,
        gateways,
        scenes: ["scene1", "scene2"],
        sessions: policy === "kick" ? {} : { sceneLost: { fallback: "scene2" } },
        apps: { ...Object.fromEntries(gateways.map((g) => [g, sceneVerify])), scene1: lostApp("scene1", enters), scene2: lostApp("scene2", enters) },
      });
      const watched: Watched[] = [];
      try {
        for (const gateway of gateways) {
          for (const [i, scene] of ["scene1", "scene1", "scene2"].entries()) {
            const uid = `${gateway}-${scene}-${i}`;
            const client = await connect(c.tcp(gateway), { reconnect: false, login: () => ({ name: uid, scene }) });
            const w: Watched = { uid, gateway, client, id: client.session!.session, kicks: [], hellos: [], events: [] };
            client.onKick((k) => w.kicks.push(k));
            client.on(Hello, (h) => w.hellos.push(h));
            client.onStateChange((s) => w.events.push(`state:${s}`));
            client.onSession((_s, how) => w.events.push(`session:${how}`));
            assert.equal((await client.request(Where, null)).scene, scene);
            watched.push(w);
          }
        }
        const inScene1 = watched.filter((w) => w.uid.includes("-scene1-"));
        const inScene2 = watched.filter((w) => w.uid.includes("-scene2-"));
        const entersBefore = enters.length;

        // Kill the link, as a crashed process would: no goodbye, the socket just closes.
        const victim = c.scenes.get("scene1")!;
        const link = victim.remote(shape === "gate" ? "gate" : "gateway")!.currentLink!;
        link.destroy("killed by the test");

        if (policy === "kick") {
          await waitFor(() => inScene1.every((w) => w.client.state === "closed"), 5000, "scene1's sessions to be kicked");
          for (const w of inScene1) assert.deepEqual(w.kicks, [{ code: KickCode.SceneLost, reason: "scene scene1 was lost" }], w.uid);
          for (const g of gateways) {
            const gw = c.gateways.get(g)!.sessions.gateway!;
            for (const w of inScene1.filter((x) => x.gateway === g)) assert.equal(gw.get(w.id), undefined, `${w.uid} still has a session`);
          }
        } else {
          await waitFor(() => enters.length === entersBefore + inScene1.length, 5000, "scene1's sessions to enter scene2");
          assert.deepEqual(
            enters.slice(entersBefore).sort((a, b) => a.uid.localeCompare(b.uid)),
            inScene1.map((w) => ({ scene: "scene2", uid: w.uid, from: "scene1", extra: { sceneLost: "scene1" } })).sort((a, b) => a.uid.localeCompare(b.uid)),
          );
          for (const w of inScene1) {
            assert.deepEqual(await w.client.request(Where, null), { scene: "scene2", id: w.id }, w.uid);
            assert.equal(w.client.state, "open");
            assert.deepEqual(w.kicks, [], w.uid);
            assert.deepEqual(w.events, [], `${w.uid} reconnected or logged in again`);
          }
        }
        // Sessions in scene2 saw nothing of it and keep working.
        for (const w of inScene2) {
          assert.deepEqual(await w.client.request(Where, null), { scene: "scene2", id: w.id }, w.uid);
          assert.deepEqual(w.kicks, [], w.uid);
          assert.deepEqual(w.events, [], w.uid);
        }
        // Pushes to scene2 reach exactly its sessions now: the moved ones too, the kicked ones not.
        const reached = policy === "kick" ? inScene2 : watched;
        c.scenes.get("scene2")!.sessions.pushScene("scene2", Hello, "still here");
        await waitFor(() => reached.every((w) => w.hellos.length === 1), 3000, "the scene2 push");
        await sleep(30);
        for (const w of watched) assert.deepEqual(w.hellos, reached.includes(w) ? ["still here"] : [], w.uid);
        for (const g of gateways) {
          assert.equal(c.gateways.get(g)!.sessions.stats!.sessions, reached.filter((w) => w.gateway === g).length, `sessions left on ${g}`);
        }
      } finally {
        for (const w of watched) w.client.close();
        await c.stop();
      }
    });
  }
}

// ---- a broadcast to many raw clients, some of which stop reading ----

const Big = push<Uint8Array>(60, { codec: "raw" });

/**
 * A raw TCP session client: handshake and login by hand, then it reads every frame but keeps only
 * the sequence number of each Big push and the message number in its first 4 body bytes (bodies
 * are skipped, not buffered: hundreds of these receive gigabytes together).
 */
class CountingClient {
  readonly numbers: number[] = [];
  /** Pushes whose sequence number was not the next one. */
  badSeqs = 0;
  closed = false;
  /** The session id the gateway gave it. */
  session = 0;
  private seq = 0;
  private readonly header = Buffer.alloc(18);
  private have = 0;
  private need = 14;
  private skip = 0;
  private body: Buffer | null = null;
  private bodyHave = 0;
  private waiter: ((m: Message) => void) | null = null;

  private constructor(readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => this.read(chunk));
    socket.on("close", () => (this.closed = true));
    socket.on("error", () => {});
  }

  static async open(port: number, name: string): Promise<CountingClient> {
    const socket = netConnect({ port, host: "127.0.0.1" });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    const client = new CountingClient(socket);
    const format = nativeFormat();
    const hello = client.nextControl();
    socket.write(format.encode({ type: MessageType.Handshake, id: 0, command: 0, body: encodeControl({ protocol: 1 }) })!);
    assert.equal((await hello).type, MessageType.Handshake);
    const reply = client.nextControl();
    socket.write(format.encode({ type: MessageType.Request, id: 1, command: SystemCommand.Login, body: jsonCodec.encode({ credentials: { name } }) })!);
    const answer = await reply;
    assert.equal(answer.type, MessageType.Response, `login of ${name}: ${new TextDecoder().decode(answer.body)}`);
    client.session = (jsonCodec.decode(answer.body) as { session: number }).session;
    return client;
  }

  private nextControl(): Promise<Message> {
    return new Promise((resolve) => (this.waiter = resolve));
  }

  private read(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - at);
        this.skip -= n;
        at += n;
        continue;
      }
      if (this.body !== null) {
        const n = Math.min(this.body.length - this.bodyHave, chunk.length - at);
        chunk.copy(this.body, this.bodyHave, at, at + n);
        this.bodyHave += n;
        at += n;
        if (this.bodyHave === this.body.length) this.control(this.body);
        continue;
      }
      const n = Math.min(this.need - this.have, chunk.length - at);
      chunk.copy(this.header, this.have, at, at + n);
      this.have += n;
      at += n;
      if (this.have < this.need) break;
      const bodyLength = this.header.readUInt32BE(0) - 10;
      const big = this.header[4] === MessageType.Push && this.header.readUInt32BE(10) === Big.id && bodyLength >= 4;
      if (big && this.need === 14) {
        this.need = 18; // and the message number
        continue;
      }
      if (big) {
        if (this.header.readUInt32BE(6) !== ++this.seq) this.badSeqs++;
        this.numbers.push(this.header.readUInt32BE(14));
        this.skip = bodyLength - 4;
      } else if (bodyLength > 0) {
        this.body = Buffer.alloc(bodyLength);
        this.bodyHave = 0;
        continue; // the header stays until the body is complete
      } else {
        this.control(Buffer.alloc(0));
        continue;
      }
      this.have = 0;
      this.need = 14;
    }
  }

  private control(body: Buffer): void {
    const m: Message = { type: this.header[4] as MessageType, id: this.header.readUInt32BE(6), command: this.header.readUInt32BE(10), body };
    this.body = null;
    this.have = 0;
    this.need = 14;
    if (m.type === MessageType.Heartbeat) return;
    const w = this.waiter;
    this.waiter = null;
    w?.(m);
  }
}

test("a broadcast to 500 raw clients of which 10 stop reading: the 10 are dropped as slow consumers, the others get every message in order", async () => {
  // A client that does not read absorbs about 4 MiB of kernel buffers on loopback before
  // glowfly's own bound is reached, and every broadcast goes to every client: ~2.5 GB in all.
  const CLIENTS = 500;
  const SLOW = 10;
  const BODY = 64 * 1024;
  const MAX_OUTBOUND = 256 * 1024;
  const PER_ROUND = 2; // 128 KiB a round: well under the bound for a client that keeps up
  const MAX_ROUNDS = 256; // 32 MiB per client: far past any kernel buffer
  const { logger, lines } = captureLogger();
  const gateway = new Node({
    config: { name: "gateway", tcp: [{ port: 0, limits: { maxBodyBytes: BODY + 1024, maxOutboundBytes: MAX_OUTBOUND } }], sessions: { scene: "scene1" } },
    logger,
    cluster: { root: { host: "127.0.0.1", port: 0 } },
    apps: [nameVerify],
  });
  await gateway.start();
  const scene = new Node({ config: { name: "scene1" }, logger: captureLogger().logger, cluster: { links: [{ rootName: "gateway", host: "127.0.0.1", port: gateway.root!.address!.port }] } });
  await scene.start();
  const clients: CountingClient[] = [];
  try {
    await waitFor(() => gateway.root!.children().length === 1, 5000, "scene1 to join");
    const port = portOf(gateway, "tcp");
    for (let i = 0; i < CLIENTS; i += 100) {
      clients.push(...(await Promise.all(Array.from({ length: Math.min(100, CLIENTS - i) }, (_, j) => CountingClient.open(port, `raw${i + j}`)))));
    }
    const gw = gateway.sessions.gateway!;
    assert.equal(gw.stats.sessions, CLIENTS);
    const slow = clients.slice(0, SLOW);
    const fast = clients.slice(SLOW);
    for (const s of slow) s.socket.pause();

    const body = Buffer.alloc(BODY);
    let sent = 0;
    let rounds = 0;
    let roundsAfterDrop = -1;
    // Broadcast round by round, from the scene, until the slow ones are gone and 3 more rounds
    // have gone by; each round waits until every reading client has everything so far.
    while (roundsAfterDrop < 3) {
      assert.ok(rounds < MAX_ROUNDS, `after ${rounds} rounds (${((rounds * PER_ROUND * BODY) / 1048576).toFixed(0)} MiB each) ${gw.stats.detached} of ${SLOW} slow clients were dropped`);
      for (let k = 0; k < PER_ROUND; k++) {
        body.writeUInt32BE(sent++, 0);
        scene.sessions.broadcast(Big, body);
      }
      rounds++;
      await waitFor(() => fast.every((c) => c.numbers.length === sent || c.closed), 10_000, `round ${rounds} to reach the reading clients`);
      assert.equal(fast.filter((c) => c.closed).length, 0, "a client that reads was dropped");
      if (roundsAfterDrop >= 0) roundsAfterDrop++;
      else if (gw.stats.detached === SLOW) roundsAfterDrop = 0;
    }

    // The slow ones were dropped as slow consumers (their sessions wait for a resume), and only they.
    assert.equal(gw.stats.sessions, CLIENTS);
    for (const [i, s] of slow.entries()) assert.equal(gw.get(s.session)?.connection, null, `slow client ${i} still attached`);
    for (const [i, c] of fast.entries()) assert.notEqual(gw.get(c.session)?.connection ?? null, null, `client ${i + SLOW} detached`);
    const slowLines = lines.filter((l) => l.includes("closing connection") && l.includes(`code=${KickCode.SlowConsumer}`));
    assert.equal(slowLines.length, SLOW, "one slow-consumer close per paused client");
    const expected = Array.from({ length: sent }, (_, i) => i);
    for (const [i, c] of fast.entries()) {
      assert.equal(c.badSeqs, 0, `client ${i + SLOW}: sequence numbers out of order`);
      assert.deepEqual(c.numbers, expected, `client ${i + SLOW}: not every broadcast, in order`);
    }

    // Reading again, a slow client finds its connection closed after a prefix of the broadcasts.
    for (const s of slow) s.socket.resume();
    await waitFor(() => slow.every((s) => s.closed), 10_000, "the slow clients to see their connections closed");
    for (const [i, s] of slow.entries()) {
      assert.equal(s.badSeqs, 0, `slow client ${i}`);
      assert.ok(s.numbers.length < sent, `slow client ${i} got all ${sent} messages`);
      assert.deepEqual(s.numbers, expected.slice(0, s.numbers.length), `slow client ${i}: what it got is not a prefix`);
    }
  } finally {
    for (const c of clients) c.socket.destroy();
    await scene.stop();
    await gateway.stop();
  }
});
