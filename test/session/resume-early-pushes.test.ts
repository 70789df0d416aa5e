/**
 * FAILING at HEAD 3a5b43e..efe0064 (a bug in src/client/client.ts establishSession; an uncommitted change
 * in the working tree that resets lastSeq before sending Login makes both pass). Not committed: pushes that a scene sends from its
 * enter hook reach the client before the Login reply. The SDK numbers them against the
 * previous session's lastSeq and then resets lastSeq to 0 after the reply, so
 *  (a) after a first login, a resume replays them and the app gets them twice;
 *  (b) after a fallback login (resume refused), they are dropped as "already seen".
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { defineApp, push, type SessionRef } from "../../src/index.ts";
import { Client, type SessionHow } from "../../src/client/index.ts";
import { tcpTransport } from "../../src/client/node-transports.ts";
import { CuttableProxy, waitFor, sleep } from "../helpers.ts";
import { sessionCluster } from "./cluster.ts";

const Note = push<string>(101, { name: "note" });
const Num = push<number>(100, { name: "num" });


async function setup(sessions: { resumeWindowMs: number; replayMessages?: number }) {
  const refs = new Map<string, SessionRef>();
  const welcome = defineApp((node) => {
    node.sessions.onEnter((s) => {
      refs.set(s.uid, s);
      node.sessions.push(s, Note, `welcome ${s.id}`);
    });
  });
  const c = await sessionCluster({ shape: "root", scenes: ["scene1"], sessions, apps: { scene1: welcome } });
  const proxy = await CuttableProxy.start(Number(new URL(c.tcp()).port));
  // Listeners before open(): connect() would only return after the login, too late for the welcome.
  const client = new Client(new URL(`tcp://127.0.0.1:${proxy.port}`), tcpTransport, { login: () => ({ name: "una" }), reconnect: { initialDelayMs: 10, maxDelayMs: 40 } });
  const got: string[] = [];
  const established: SessionHow[] = [];
  client.on(Note, (s) => got.push(s));
  client.on(Num, (n) => got.push(`n${n}`));
  await client.open();
  client.onSession((_info, how) => established.push(how));
  const stop = async (client: Client) => {
    client.close();
    proxy.close();
    await c.stop();
  };
  return { c, proxy, client, got, established, refs, stop };
}

test("a push from the enter hook is delivered once, not again after a resume", async () => {
  const { c, proxy, client, got, established, stop } = await setup({ resumeWindowMs: 5000 });
  try {
    const id = client.session!.session;
    await waitFor(() => got.length === 1, 3000, "the welcome");
    assert.deepEqual(got, [`welcome ${id}`]);
    proxy.cut();
    await waitFor(() => c.gateways.get("gateway")!.sessions.gateway!.stats.detached === 1, 3000, "detach");
    proxy.restore();
    await waitFor(() => established.length === 1, 5000, "the resume");
    assert.equal(established[0], "resume");
    await sleep(100);
    // Actual: [ "welcome 1", "welcome 1" ] — the resume asked for lastSeq 0 and got push 1 again.
    assert.deepEqual(got, [`welcome ${id}`], "the welcome was delivered twice");
  } finally {
    await stop(client);
  }
});

test("after a refused resume, the new session's pushes from its enter hook reach the app", async () => {
  const { c, proxy, client, got, established, refs, stop } = await setup({ resumeWindowMs: 5000, replayMessages: 2 });
  try {
    const scene = c.scenes.get("scene1")!;
    const gateway = c.gateways.get("gateway")!.sessions.gateway!;
    const first = client.session!.session;
    for (let n = 1; n <= 5; n++) scene.sessions.push(refs.get("una")!, Num, n);
    await waitFor(() => got.length === 6, 3000, "welcome and five pushes");
    proxy.cut();
    await waitFor(() => gateway.stats.detached === 1, 3000, "detach");
    for (let n = 6; n <= 10; n++) scene.sessions.push(refs.get("una")!, Num, n);
    await waitFor(() => gateway.get(first)?.seq === 11, 3000, "pushes numbered while detached");
    proxy.restore();
    await waitFor(() => established.length === 1, 5000, "the fallback login");
    assert.equal(established[0], "login");
    const second = client.session!.session;
    await sleep(100);
    // Actual: the new session's welcome (its push 1) is dropped: 1 <= the old session's lastSeq (6).
    assert.equal(got[got.length - 1], `welcome ${second}`, "the new session's welcome was dropped");
  } finally {
    await stop(client);
  }
});
