/**
 * Sessions and scenes end to end, in both cluster shapes: login through the verify hook, enter
 * at the first scene, commands routed to the session's scene with the session in the context,
 * changeScene (enter at the new scene with fromScene and extra, leave at the old), offline.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { command, defineApp, type SessionRef } from "../../src/index.ts";
import { connect } from "../../src/client/index.ts";
import { waitFor } from "../helpers.ts";
import { sessionCluster } from "./cluster.ts";

const Where = command<null, { scene: string; uid: string; data: Record<string, unknown> }>(10);
const Go = command<{ to: string }, null>(11);

interface HookLog {
  events: string[];
}

function sceneApp(name: string, log: HookLog) {
  return defineApp((node) => {
    node.sessions.onEnter((s: SessionRef, from, extra) => {
      log.events.push(`${name}:enter:${s.uid}:from=${from}:extra=${JSON.stringify(extra)}`);
    });
    node.sessions.onLeave((s, to) => {
      log.events.push(`${name}:leave:${s.uid}:to=${to}`);
    });
    node.sessions.onOffline((s) => {
      log.events.push(`${name}:offline:${s.uid}`);
    });
    node.commands.handle(Where, (_req, ctx) => ({ scene: name, uid: ctx.session!.uid, data: { ...ctx.session!.data } }));
    node.commands.handle(Go, async (req, ctx) => {
      await node.sessions.changeScene(ctx.session!, req.to, { door: 3 });
      return null;
    });
  });
}

for (const shape of ["root", "gate"] as const) {
  test(`${shape} shape: login enters the first scene; commands follow the session through changeScene; logout is offline at its scene`, async () => {
    const log: HookLog = { events: [] };
    const c = await sessionCluster({ shape, scenes: ["scene1", "scene2"], apps: { scene1: sceneApp("scene1", log), scene2: sceneApp("scene2", log) } });
    try {
      const client = await connect(c.tcp(), { reconnect: false, login: () => ({ name: "alice" }) });
      assert.equal(client.session?.uid, "alice");
      assert.equal(client.session?.scene, "scene1");
      assert.deepEqual(log.events, ["scene1:enter:alice:from=null:extra=undefined"]);
      assert.deepEqual(await client.request(Where, null), { scene: "scene1", uid: "alice", data: { name: "alice" } });
      await client.request(Go, { to: "scene2" });
      assert.deepEqual(await client.request(Where, null), { scene: "scene2", uid: "alice", data: { name: "alice" } });
      await waitFor(() => log.events.length === 3);
      assert.deepEqual(log.events.slice(1), ['scene2:enter:alice:from=scene1:extra={"door":3}', "scene1:leave:alice:to=scene2"]);
      await client.logout();
      await waitFor(() => log.events.length === 4);
      assert.equal(log.events[3], "scene2:offline:alice");
    } finally {
      await c.stop();
    }
  });
}
