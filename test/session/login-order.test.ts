/**
 * Regression tests for the order of scene hooks around logins: a session replaced while its
 * scene's enter is running is still told offline; a replaced session's offline reaches the scene
 * before the new session's enter; refusals of every kind are counted.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { defineApp, MessageType, SystemCommand, type SessionRef } from "../../src/index.ts";
import { connect } from "../../src/client/index.ts";
import { json, portOf, RawClient, sleep, waitFor } from "../helpers.ts";
import { sessionCluster } from "./cluster.ts";

interface SceneEvent {
  kind: "enter" | "offline";
  id: number;
  uid: string;
}

function recorder(events: SceneEvent[], enterDelayMs: (s: SessionRef) => number = () => 0) {
  return defineApp((node) => {
    node.sessions.onEnter(async (s: SessionRef) => {
      events.push({ kind: "enter", id: s.id, uid: s.uid });
      const ms = enterDelayMs(s);
      if (ms > 0) await sleep(ms);
    });
    node.sessions.onOffline((s) => void events.push({ kind: "offline", id: s.id, uid: s.uid }));
  });
}

// Bug 1: a session replaced (kickOld) while its scene's enter hook is still running is never
// reported offline to that scene, although the scene ran enter for it.
test("BUG: a session replaced while entering its scene still gets offline at that scene", async (t) => {
  const events: SceneEvent[] = [];
  // Session 1's enter takes 300 ms; the second login for the same uid arrives meanwhile.
  const c = await sessionCluster({ shape: "root", scenes: ["scene1"], apps: { scene1: recorder(events, (s) => (s.id === 1 ? 300 : 0)) } });
  t.after(() => c.stop());
  const port = portOf(c.gateways.get("gateway")!, "tcp");
  const a = await RawClient.open(port);
  const b = await RawClient.open(port);
  t.after(() => [a, b].forEach((r) => r.close()));
  a.request(1, SystemCommand.Login, { credentials: { name: "same" } });
  await waitFor(() => events.length === 1, 2000, "session 1 to start entering");
  b.request(1, SystemCommand.Login, { credentials: { name: "same" } });
  const reply = await b.next((m) => m.id === 1 && m.type === MessageType.Response);
  assert.equal((json(reply.body) as { session: number }).session, 2);
  await a.waitClosed();
  await sleep(600); // well past session 1's enter
  assert.deepEqual(
    events.filter((e) => e.id === 1),
    [
      { kind: "enter", id: 1, uid: "same" },
      { kind: "offline", id: 1, uid: "same" },
    ],
    "the scene ran enter for session 1 and must hear that it ended",
  );
});

// Bug 1 at scale: the flood from login.test.ts with the balance check.
test("BUG: kickOld flood of 50 logins as one uid: enters − offlines === 1 at the scene", async (t) => {
  const events: SceneEvent[] = [];
  const c = await sessionCluster({ shape: "root", scenes: ["scene1"], apps: { scene1: recorder(events) } });
  t.after(() => c.stop());
  const gateway = c.gateways.get("gateway")!;
  const port = portOf(gateway, "tcp");
  const raws = await Promise.all(Array.from({ length: 50 }, () => RawClient.open(port)));
  t.after(() => raws.forEach((r) => r.close()));
  for (const raw of raws) raw.request(7, SystemCommand.Login, { credentials: { name: "same" } });
  await waitFor(() => gateway.sessions.stats!.sessions === 1 && raws.filter((r) => !r.closed).length === 1, 5000, "one survivor");
  await sleep(300);
  const enters = events.filter((e) => e.kind === "enter").length;
  const offlines = events.filter((e) => e.kind === "offline").length;
  assert.equal(enters - offlines, 1, `enters ${enters}, offlines ${offlines}`);
});

// Bug 2: with kickOld the scene hears enter of the new session before offline of the replaced
// one, though the gateway sends them in that order; a scene that keys players by uid then
// deletes the player who just entered.
test("BUG: kickOld: the scene hears offline of the replaced session before enter of the new one", async (t) => {
  const events: SceneEvent[] = [];
  const c = await sessionCluster({ shape: "root", scenes: ["scene1"], apps: { scene1: recorder(events) } });
  t.after(() => c.stop());
  const first = await connect(c.tcp(), { login: () => ({ name: "same" }), reconnect: false });
  t.after(() => first.close());
  await waitFor(() => events.length === 1);
  const second = await connect(c.tcp(), { login: () => ({ name: "same" }), reconnect: false });
  t.after(() => second.close());
  await waitFor(() => events.length === 3);
  assert.deepEqual(events.slice(), [
    { kind: "enter", id: 1, uid: "same" },
    { kind: "offline", id: 1, uid: "same" },
    { kind: "enter", id: 2, uid: "same" },
  ]);
});

// Minor: stats.loginsRefused counts only verify failures, not the gateway's own refusals
// (refuseNew duplicates, maxSessions, bad verdicts).
test("MINOR: stats.loginsRefused counts every refused login", async (t) => {
  const c = await sessionCluster({ shape: "root", scenes: ["scene1"], sessions: { duplicateLogin: "refuseNew" }, apps: { scene1: recorder([]) } });
  t.after(() => c.stop());
  const first = await connect(c.tcp(), { login: () => ({ name: "same" }), reconnect: false });
  t.after(() => first.close());
  await assert.rejects(connect(c.tcp(), { login: () => ({ name: "same" }), reconnect: false }));
  assert.equal(c.gateways.get("gateway")!.sessions.stats!.loginsRefused, 1);
});
