/**
 * Messages to sessions in the "gate" shape with two gateways (gw1, gw2) and two scenes: push to
 * one session from anywhere, pushMany, channels (join/leave from a scene), pushScene,
 * pushGateway, broadcast; a fan-out crosses each link once; channel membership through logout,
 * an expired resume window and a scene change; pushes to ended sessions are counted no-ops;
 * setData and kick from a scene.
 *
 * "Nothing else arrived" is checked with a barrier: after its pushes, each node that pushed
 * broadcasts a marker, and every client has it. Messages from one node to one gateway travel
 * one chain of links in order, so whatever that node pushed before the marker has arrived.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  command,
  CommandError,
  defineApp,
  ErrorCode,
  KickCode,
  MessageType,
  Node,
  push,
  SystemCommand,
  type KickBody,
  type SessionRef,
} from "../../src/index.ts";
import { connect, type Client } from "../../src/client/index.ts";
import { captureLogger, json, portOf, RawClient, sleep, waitFor } from "../helpers.ts";
import { sessionCluster, type SessionCluster } from "./cluster.ts";

const Me = command<null, { ref: SessionRef; at: string }>(20);
const Join = command<{ channel: string }, boolean>(21);
const Leave = command<{ channel: string }, boolean>(22);
const SetData = command<{ key: string; value: unknown }, null>(23);
const Go = command<{ to: string }, null>(24);
interface NoteBody {
  n: number;
  tag: string;
}
const Note = push<NoteBody>(40);
const Mark = push<number>(41);

const MAX_CHANNELS = 4;
const RESUME_WINDOW_MS = 300;

interface World {
  enters: { scene: string; uid: string; from: string | null }[];
  offline: string[];
}

/** The gateways' verify: `{ name, scene? }` credentials; the scene defaults to the config's (scene1). */
const sceneVerify = defineApp((node) => {
  node.sessions.verify((credentials) => {
    const c = credentials as { name: string; scene?: string };
    return { uid: c.name, ...(c.scene === undefined ? {} : { scene: c.scene }), data: { name: c.name } };
  });
});

function sceneApp(name: string, world: World) {
  return defineApp((node) => {
    node.sessions.onEnter((s, from) => {
      world.enters.push({ scene: name, uid: s.uid, from });
    });
    node.sessions.onOffline((s) => {
      world.offline.push(`${name}:${s.uid}`);
    });
    node.commands.handle(Me, (_req, ctx) => ({ ref: ctx.session!, at: name }));
    node.commands.handle(Join, (req, ctx) => node.sessions.join(ctx.session!, req.channel));
    node.commands.handle(Leave, (req, ctx) => node.sessions.leave(ctx.session!, req.channel));
    node.commands.handle(SetData, async (req, ctx) => {
      await node.sessions.setData(ctx.session!, req.key, req.value);
      return null;
    });
    node.commands.handle(Go, async (req, ctx) => {
      await node.sessions.changeScene(ctx.session!, req.to);
      return null;
    });
  });
}

interface Player {
  name: string;
  client: Client;
  notes: NoteBody[];
  marks: number[];
  kicks: KickBody[];
  ref: SessionRef;
}

function tagged(p: Player, tag: string): number[] {
  return p.notes.filter((n) => n.tag === tag).map((n) => n.n);
}

describe("gate shape, gateways gw1 and gw2, scenes scene1 and scene2", () => {
  let c: SessionCluster;
  const world: World = { enters: [], offline: [] };
  const live: Player[] = [];
  let markSeq = 0;
  const gw = (name: "gw1" | "gw2"): Node => c.gateways.get(name)!;
  const scene = (name: "scene1" | "scene2"): Node => c.scenes.get(name)!;
  const gate = (): Node => c.gate!;

  before(async () => {
    c = await sessionCluster({
      shape: "gate",
      gateways: ["gw1", "gw2"],
      scenes: ["scene1", "scene2"],
      sessions: { maxChannels: MAX_CHANNELS, resumeWindowMs: RESUME_WINDOW_MS },
      apps: { gw1: sceneVerify, gw2: sceneVerify, scene1: sceneApp("scene1", world), scene2: sceneApp("scene2", world) },
    });
  });

  after(async () => {
    for (const p of live) p.client.close();
    await c.stop();
  });

  async function player(gateway: "gw1" | "gw2", name: string, sceneName?: "scene1" | "scene2"): Promise<Player> {
    const client = await connect(c.tcp(gateway), { reconnect: false, login: () => ({ name, ...(sceneName === undefined ? {} : { scene: sceneName }) }) });
    const me = await client.request(Me, null);
    assert.equal(me.at, sceneName ?? "scene1");
    assert.equal(me.ref.gateway, gateway);
    const p: Player = { name, client, notes: [], marks: [], kicks: [], ref: me.ref };
    client.on(Note, (n) => p.notes.push(n));
    client.on(Mark, (m) => p.marks.push(m));
    client.onKick((k) => p.kicks.push(k));
    live.push(p);
    return p;
  }

  /** Every node in `origins` broadcasts a marker; resolves when each of `players` has every marker. */
  async function barrier(origins: readonly Node[], players: readonly Player[]): Promise<void> {
    for (const origin of origins) {
      const id = ++markSeq;
      origin.sessions.broadcast(Mark, id);
      await waitFor(() => players.every((p) => p.marks.includes(id)), 3000, `marker ${id} from ${origin.name}`);
    }
  }

  test("push to one session from its scene, from the gate and from the other gateway reaches that session only", async () => {
    const a1 = await player("gw1", "push-a1");
    const a2 = await player("gw1", "push-a2");
    const b1 = await player("gw2", "push-b1", "scene2");
    scene("scene1").sessions.push(a1.ref, Note, { n: 1, tag: "one" });
    gate().sessions.push(a1.ref, Note, { n: 2, tag: "one" });
    gw("gw2").sessions.push(a1.ref, Note, { n: 3, tag: "one" });
    // And the other way: gw1 pushes to a session on gw2; scene1 pushes to a session in scene2.
    gw("gw1").sessions.push(b1.ref, Note, { n: 4, tag: "one" });
    scene("scene1").sessions.push(b1.ref, Note, { n: 5, tag: "one" });
    // A gateway pushing to its own session.
    gw("gw1").sessions.push(a2.ref, Note, { n: 6, tag: "one" });
    await barrier([scene("scene1"), gate(), gw("gw2"), gw("gw1")], [a1, a2, b1]);
    // Pushes from different nodes take different paths: their order is not defined.
    assert.deepEqual(tagged(a1, "one").sort(), [1, 2, 3]);
    assert.deepEqual(tagged(a2, "one"), [6]);
    assert.deepEqual(tagged(b1, "one").sort(), [4, 5]);
  });

  test("pushMany across both gateways reaches exactly the listed sessions, once each", async () => {
    const a1 = await player("gw1", "many-a1");
    const a2 = await player("gw1", "many-a2");
    const b1 = await player("gw2", "many-b1");
    const b2 = await player("gw2", "many-b2", "scene2");
    scene("scene2").sessions.pushMany([a1.ref, b1.ref, b2.ref], Note, { n: 7, tag: "many" });
    gw("gw2").sessions.pushMany([a2.ref, b2.ref], Note, { n: 8, tag: "many" });
    await barrier([scene("scene2"), gw("gw2")], [a1, a2, b1, b2]);
    assert.deepEqual(tagged(a1, "many"), [7]);
    assert.deepEqual(tagged(a2, "many"), [8]);
    assert.deepEqual(tagged(b1, "many"), [7]);
    assert.deepEqual(tagged(b2, "many").sort(), [7, 8]);
  });

  test("pushChannel reaches the members joined from a scene, on both gateways, and no one else; leave works", async () => {
    const m1 = await player("gw1", "chan-m1");
    const m2 = await player("gw2", "chan-m2", "scene2");
    const m3 = await player("gw2", "chan-m3");
    const out1 = await player("gw1", "chan-out1");
    const out2 = await player("gw2", "chan-out2");
    assert.equal(await m1.client.request(Join, { channel: "lobby" }), true);
    assert.equal(await m2.client.request(Join, { channel: "lobby" }), true);
    assert.equal(await m3.client.request(Join, { channel: "lobby" }), true);
    // Joining twice is not an error: it answers false and changes nothing.
    assert.equal(await m1.client.request(Join, { channel: "lobby" }), false);
    assert.equal(await scene("scene2").sessions.join(m2.ref, "lobby"), false);
    assert.deepEqual(gw("gw1").sessions.gateway!.members("lobby").map((s) => s.uid), ["chan-m1"]);
    assert.deepEqual(gw("gw2").sessions.gateway!.members("lobby").map((s) => s.uid).sort(), ["chan-m2", "chan-m3"]);

    scene("scene1").sessions.pushChannel("lobby", Note, { n: 1, tag: "lobby" });
    await barrier([scene("scene1")], [m1, m2, m3, out1, out2]);
    for (const p of [m1, m2, m3]) assert.deepEqual(tagged(p, "lobby"), [1], p.name);
    for (const p of [out1, out2]) assert.deepEqual(tagged(p, "lobby"), [], p.name);

    // m3 leaves (through its scene, over the links); the gate pushes next.
    assert.equal(await m3.client.request(Leave, { channel: "lobby" }), true);
    assert.equal(await m3.client.request(Leave, { channel: "lobby" }), false);
    gate().sessions.pushChannel("lobby", Note, { n: 2, tag: "lobby" });
    await barrier([gate()], [m1, m2, m3, out1, out2]);
    assert.deepEqual(tagged(m1, "lobby"), [1, 2]);
    assert.deepEqual(tagged(m2, "lobby"), [1, 2]);
    assert.deepEqual(tagged(m3, "lobby"), [1]);
    assert.deepEqual(tagged(out1, "lobby"), []);
    assert.deepEqual(gw("gw2").sessions.gateway!.members("lobby").map((s) => s.uid), ["chan-m2"]);
  });

  test("pushScene reaches only sessions in that scene; pushGateway only that gateway's sessions", async () => {
    const s1a = await player("gw1", "scene-1a", "scene1");
    const s1b = await player("gw2", "scene-1b", "scene1");
    const s2a = await player("gw1", "scene-2a", "scene2");
    const s2b = await player("gw2", "scene-2b", "scene2");
    const all = [s1a, s1b, s2a, s2b];
    gate().sessions.pushScene("scene2", Note, { n: 1, tag: "scene" });
    scene("scene1").sessions.pushScene("scene1", Note, { n: 2, tag: "scene" });
    await barrier([gate(), scene("scene1")], all);
    assert.deepEqual(tagged(s1a, "scene"), [2]);
    assert.deepEqual(tagged(s1b, "scene"), [2]);
    assert.deepEqual(tagged(s2a, "scene"), [1]);
    assert.deepEqual(tagged(s2b, "scene"), [1]);

    // The scene index follows a move: s1a goes to scene2.
    await s1a.client.request(Go, { to: "scene2" });
    scene("scene1").sessions.pushScene("scene2", Note, { n: 3, tag: "scene" });
    await barrier([scene("scene1")], all);
    assert.deepEqual(tagged(s1a, "scene"), [2, 3]);
    assert.deepEqual(tagged(s1b, "scene"), [2]);

    scene("scene2").sessions.pushGateway("gw2", Note, { n: 4, tag: "gw" });
    gw("gw2").sessions.pushGateway("gw1", Note, { n: 5, tag: "gw" });
    await barrier([scene("scene2"), gw("gw2")], all);
    for (const p of [s1b, s2b]) assert.deepEqual(tagged(p, "gw"), [4], p.name);
    for (const p of [s1a, s2a]) assert.deepEqual(tagged(p, "gw"), [5], p.name);
  });

  test("broadcast reaches every session on both gateways exactly once, from any node", async () => {
    const players = [await player("gw1", "bc-1"), await player("gw1", "bc-2", "scene2"), await player("gw2", "bc-3"), await player("gw2", "bc-4", "scene2")];
    const origins = [scene("scene2"), gate(), gw("gw1"), gw("gw2")];
    origins.forEach((origin, i) => origin.sessions.broadcast(Note, { n: i, tag: "bc" }));
    await barrier(origins, players);
    for (const p of players) assert.deepEqual(tagged(p, "bc").sort(), [0, 1, 2, 3], p.name);
    // Every open session of the cluster (other tests' too) got each marker once.
    for (const p of live) {
      if (p.client.state !== "open") continue;
      assert.equal(new Set(p.marks).size, p.marks.length, `${p.name} got a marker twice`);
    }
  });

  test("a fan-out crosses each link once: 20 channel members on gw1 cost gw1 one inbound frame, not 20", async () => {
    const N = 20;
    const members: Player[] = [];
    for (let i = 0; i < N; i++) members.push(await player("gw1", `fan-a${i}`, i % 2 === 0 ? "scene1" : "scene2"));
    const far = [await player("gw2", "fan-b0"), await player("gw2", "fan-b1")];
    for (const p of [...members, ...far]) assert.equal(await scene("scene1").sessions.join(p.ref, "fan"), true);
    const from = scene("scene1");
    const up = from.remote("gate")!;
    const in1 = gw("gw1").remote("gate")!;
    const in2 = gw("gw2").remote("gate")!;
    const everyone = [...members, ...far];
    // Warm up: every link on the path has just carried a frame, so none sends a heartbeat
    // (5 s of silence) while we count.
    from.sessions.pushChannel("fan", Note, { n: 0, tag: "fan" });
    await waitFor(() => everyone.every((p) => tagged(p, "fan").length === 1), 3000, "the warm-up push");

    const count = async (what: string, send: () => void, reached: readonly Player[], expect: number, fromScene1 = 1): Promise<void> => {
      const before = { out: up.stats.framesOut, in1: in1.stats.framesIn, in2: in2.stats.framesIn };
      send();
      await waitFor(() => reached.every((p) => tagged(p, "fan").includes(expect)), 3000, `${what} to arrive`);
      assert.equal(up.stats.framesOut - before.out, fromScene1, `${what}: frames from scene1 to the gate`);
      assert.equal(in1.stats.framesIn - before.in1, 1, `${what}: frames from the gate to gw1 (${N} sessions there)`);
      assert.equal(in2.stats.framesIn - before.in2, 1, `${what}: frames from the gate to gw2`);
    };
    await count("pushChannel", () => from.sessions.pushChannel("fan", Note, { n: 1, tag: "fan" }), everyone, 1);
    // pushMany sends one message per gateway: two leave scene1, each gateway gets one.
    await count("pushMany", () => from.sessions.pushMany(everyone.map((p) => p.ref), Note, { n: 2, tag: "fan" }), everyone, 2, 2);
    await count("broadcast", () => from.sessions.broadcast(Note, { n: 3, tag: "fan" }), everyone, 3);
    await barrier([from], everyone);
    for (const p of everyone) assert.deepEqual(tagged(p, "fan"), [0, 1, 2, 3], p.name);
  });

  test("channel membership: logout and an expired resume window end it; a scene change keeps it; maxChannels is enforced", async () => {
    const stay = await player("gw1", "mem-stay");
    const mover = await player("gw1", "mem-mover");
    const dropper = await player("gw2", "mem-dropper");
    const gw1 = gw("gw1").sessions.gateway!;
    const gw2 = gw("gw2").sessions.gateway!;
    // A raw client, so its connection stays open after Logout and we can see it receives nothing.
    const raw = await RawClient.open(portOf(gw("gw1"), "tcp"));
    raw.request(1, SystemCommand.Login, { credentials: { name: "mem-raw" } });
    assert.equal((await raw.next((m) => m.id === 1)).type, MessageType.Response);
    raw.request(2, Join.id, { channel: "room" });
    const joined = await raw.next((m) => m.id === 2);
    assert.equal(joined.type, MessageType.Response);
    assert.equal(json(joined.body), true);
    for (const p of [stay, mover, dropper]) assert.equal(await p.client.request(Join, { channel: "room" }), true);
    assert.deepEqual(gw1.members("room").map((s) => s.uid).sort(), ["mem-mover", "mem-raw", "mem-stay"]);

    // Logout: the raw client's session ends; its connection stays open.
    raw.request(3, SystemCommand.Logout, {});
    assert.equal((await raw.next((m) => m.id === 3)).type, MessageType.Response);
    assert.deepEqual(gw1.members("room").map((s) => s.uid).sort(), ["mem-mover", "mem-stay"]);

    // A scene change keeps the channels.
    await mover.client.request(Go, { to: "scene2" });
    assert.equal((await mover.client.request(Me, null)).at, "scene2");

    // The dropper's connection drops: detached, it is still a member until its window passes.
    dropper.client.close();
    await waitFor(() => gw2.get(dropper.ref.id)?.connection === null, 3000, "the session to be detached");
    assert.deepEqual(gw2.members("room").map((s) => s.uid), ["mem-dropper"]);
    await waitFor(() => gw2.get(dropper.ref.id) === undefined, RESUME_WINDOW_MS + 2000, "the resume window to pass");
    assert.deepEqual(gw2.members("room"), []);
    await waitFor(() => world.offline.includes("scene1:mem-dropper"), 3000, "offline at scene1");

    const goneBefore = gw2.stats.pushesToGone;
    scene("scene2").sessions.pushChannel("room", Note, { n: 1, tag: "room" });
    await barrier([scene("scene2")], [stay, mover]);
    assert.deepEqual(tagged(stay, "room"), [1]);
    assert.deepEqual(tagged(mover, "room"), [1]);
    assert.deepEqual(tagged(dropper, "room"), []);
    assert.equal(raw.messages.filter((m) => m.type === MessageType.Push).length, 0, "a logged-out connection got a push");
    // Not being in a channel is not "gone": nothing was addressed to the ended session.
    assert.equal(gw2.stats.pushesToGone, goneBefore);
    raw.close();

    // maxChannels: the fifth channel is refused with a clear error, and membership is unchanged.
    for (let i = 2; i <= MAX_CHANNELS; i++) assert.equal(await scene("scene1").sessions.join(stay.ref, `room${i}`), true);
    await assert.rejects(scene("scene1").sessions.join(stay.ref, "one-too-many"), (err: unknown) => {
      assert.ok(err instanceof CommandError);
      assert.match(err.message, new RegExp(`maximum of ${MAX_CHANNELS} channels`));
      return true;
    });
    await assert.rejects(stay.client.request(Join, { channel: "one-too-many" }), /maximum of 4 channels/);
    assert.equal(gw1.get(stay.ref.id)!.channels.size, MAX_CHANNELS);
    assert.deepEqual(gw1.members("one-too-many"), []);
    // Leaving one makes room again.
    assert.equal(await scene("scene1").sessions.leave(stay.ref, "room4"), true);
    assert.equal(await scene("scene1").sessions.join(stay.ref, "one-too-many"), true);
  });

  test("setData from a scene is seen by the next command at the scene; data over maxDataBytes is refused", async () => {
    const p = await player("gw2", "data-1", "scene2");
    await p.client.request(SetData, { key: "level", value: 7 });
    assert.deepEqual((await p.client.request(Me, null)).ref.data, { name: "data-1", level: 7 });
    // From another node than its scene, straight through the API.
    await scene("scene1").sessions.setData(p.ref, "gold", 120);
    assert.deepEqual((await p.client.request(Me, null)).ref.data, { name: "data-1", level: 7, gold: 120 });
    // Removing a key.
    await scene("scene2").sessions.setData(p.ref, "level", undefined);
    assert.deepEqual((await p.client.request(Me, null)).ref.data, { name: "data-1", gold: 120 });
    // Too big: the default maxDataBytes is 1024.
    await assert.rejects(scene("scene2").sessions.setData(p.ref, "blob", "x".repeat(2000)), (err: unknown) => {
      assert.ok(err instanceof CommandError);
      assert.match(err.message, /exceeds sessions\.maxDataBytes \(1024\)/);
      return true;
    });
    await assert.rejects(p.client.request(SetData, { key: "blob", value: "x".repeat(2000) }), /maxDataBytes/);
    assert.deepEqual((await p.client.request(Me, null)).ref.data, { name: "data-1", gold: 120 });
  });

  test("kick from a scene: the client gets Kicked with the reason, the scene gets offline; a second kick answers false", async () => {
    const p = await player("gw1", "kick-1", "scene2");
    const bystander = await player("gw1", "kick-2", "scene2");
    assert.equal(await scene("scene1").sessions.kick(p.ref, "too many dragons"), true);
    await waitFor(() => p.client.state === "closed", 3000, "the kicked client to close");
    assert.deepEqual(p.kicks, [{ code: KickCode.Kicked, reason: "too many dragons" }]);
    await waitFor(() => world.offline.includes("scene2:kick-1"), 3000, "offline at scene2");
    assert.equal(gw("gw1").sessions.gateway!.get(p.ref.id), undefined);
    assert.equal(await scene("scene1").sessions.kick(p.ref, "again"), false);
    assert.equal((await bystander.client.request(Me, null)).at, "scene2");
    assert.deepEqual(bystander.kicks, []);
  });
});

/** A gate-shape cluster like cluster.ts's, but whose nodes' logs the test can read. */
async function loggedGateCluster() {
  const logs = new Map<string, string[]>();
  const logger = (name: string) => {
    const { logger, lines } = captureLogger();
    logs.set(name, lines);
    return logger;
  };
  const gate = new Node({ config: { name: "gate" }, logger: logger("gate"), cluster: { root: { host: "127.0.0.1", port: 0 } } });
  await gate.start();
  const port = gate.root!.address!.port;
  const nodes: Node[] = [];
  for (const name of ["gw1", "gw2"]) {
    nodes.push(
      new Node({
        config: { name, tcp: [{ port: 0 }], sessions: { scene: "scene1" } },
        logger: logger(name),
        cluster: { links: [{ rootName: "gate", host: "127.0.0.1", port }], forward: { to: "gate", ranges: [[0, 0xfffffeff]] } },
        apps: [sceneVerify],
      }),
    );
  }
  nodes.push(
    new Node({
      config: { name: "scene1" },
      logger: logger("scene1"),
      cluster: { links: [{ rootName: "gate", host: "127.0.0.1", port }] },
      apps: [sceneApp("scene1", { enters: [], offline: [] })],
    }),
  );
  for (const node of nodes) await node.start();
  await waitFor(() => gate.root!.children().length === 3, 5000, "every node to join the gate");
  const [gw1, gw2, scene1] = nodes as [Node, Node, Node];
  return {
    gate,
    gw1,
    gw2,
    scene1,
    logs,
    /** Lines at warn or error level, over every node. */
    loud: () => [...logs.values()].flat().filter((l) => / (warn|error) /.test(l)),
    total: () => [...logs.values()].reduce((sum, lines) => sum + lines.length, 0),
    stop: async () => {
      for (const node of nodes) await node.stop();
      await gate.stop();
    },
  };
}

test("pushing to sessions that have ended is a counted no-op at their gateway: no error, no log storm, also 1,000 times", async () => {
  const c = await loggedGateCluster();
  try {
    const url = `tcp://127.0.0.1:${portOf(c.gw1, "tcp")}`;
    const gone = await connect(url, { reconnect: false, login: () => ({ name: "gone" }) });
    const goneRef = (await gone.request(Me, null)).ref;
    const alive = await connect(url, { reconnect: false, login: () => ({ name: "alive" }) });
    const aliveRef = (await alive.request(Me, null)).ref;
    const got: number[] = [];
    alive.on(Note, (n) => got.push(n.n));
    await gone.logout();
    const gw1 = c.gw1.sessions.gateway!;
    await waitFor(() => gw1.get(goneRef.id) === undefined, 3000, "the session to end");
    const loudBefore = c.loud().length;
    const linesBefore = c.total();
    assert.equal(gw1.stats.pushesToGone, 0);

    // From its scene, over two links.
    for (let i = 0; i < 1000; i++) c.scene1.sessions.push(goneRef, Note, { n: i, tag: "gone" });
    // From the other gateway, and from its own gateway (no link at all).
    c.gw2.sessions.push(goneRef, Note, { n: -1, tag: "gone" });
    c.gw1.sessions.push(goneRef, Note, { n: -2, tag: "gone" });
    // A list mixing an ended session and a live one: the live one gets it, the other is counted.
    c.scene1.sessions.pushMany([goneRef, aliveRef], Note, { n: 5, tag: "mixed" });
    await waitFor(() => gw1.stats.pushesToGone === 1003, 5000, "1,003 pushes to be counted");
    await waitFor(() => got.includes(5), 3000, "the live session's push");
    await sleep(50);
    assert.equal(gw1.stats.pushesToGone, 1003);
    assert.deepEqual(got, [5]);
    // The ops that need a live session answer plainly too: join/leave/kick false, move/set refuse.
    assert.equal(await c.scene1.sessions.join(goneRef, "x"), false);
    assert.equal(await c.scene1.sessions.leave(goneRef, "x"), false);
    assert.equal(await c.scene1.sessions.kick(goneRef, "x"), false);
    await assert.rejects(c.scene1.sessions.setData(goneRef, "k", 1), (err: unknown) => err instanceof CommandError && err.code === ErrorCode.Unavailable && /has ended/.test(err.message));
    assert.deepEqual(c.loud().slice(loudBefore), [], "warn/error lines after the pushes");
    assert.ok(c.total() - linesBefore < 20, `${c.total() - linesBefore} log lines for 1,003 pushes to an ended session`);
    alive.close();
  } finally {
    await c.stop();
  }
});
