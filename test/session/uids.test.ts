/**
 * One session per uid across the gateways of a cluster, through the master's uid table: a
 * login on a second gateway kicks the first (kickOld) or is refused (refuseNew); a logout frees
 * the uid; concurrent logins of one uid on two gateways leave exactly one session; a master
 * that restarts gets the uids claimed back, and a uid logged in twice while it was away ends on
 * one gateway. Two gateways → gate → scene, real loopback links, an in-process registry.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { CommandError, ErrorCode, KickCode, RootClient, type SessionSettingsInput } from "../../src/index.ts";
import { connect, type Client, type KickBody } from "../../src/client/index.ts";
import { Registry } from "../../src/master/registry.ts";
import { ClaimUid } from "../../src/master/uids.ts";
import { captureLogger, sleep, waitFor } from "../helpers.ts";
import { sessionCluster, type SessionCluster } from "./cluster.ts";

async function twoGateways(t: TestContext, sessions: SessionSettingsInput = {}): Promise<SessionCluster> {
  const c = await sessionCluster({ shape: "gate", scenes: ["scene1"], gateways: ["g1", "g2"], master: true, sessions });
  t.after(() => c.stop());
  return c;
}

async function login(c: SessionCluster, gateway: string, name: string): Promise<{ client: Client; kicks: KickBody[] }> {
  const client = await connect(c.tcp(gateway), { login: () => ({ name }), reconnect: false });
  const kicks: KickBody[] = [];
  client.onKick((k) => kicks.push(k));
  return { client, kicks };
}

const sessionsOf = (c: SessionCluster, gateway: string) => c.gateways.get(gateway)!.sessions.stats!.sessions;

test("kickOld across gateways: a login on g2 kicks the session of the same uid on g1 with Replaced", async (t) => {
  const c = await twoGateways(t);
  const first = await login(c, "g1", "ann");
  t.after(() => first.client.close());
  assert.equal(c.registry!.uids.holder("ann"), "g1");
  const second = await login(c, "g2", "ann");
  t.after(() => second.client.close());
  await waitFor(() => first.client.state === "closed", 3000, "the g1 session to be kicked");
  assert.deepEqual(
    first.kicks.map((k) => [k.code, k.reason]),
    [[KickCode.Replaced, "logged in on another gateway"]],
  );
  assert.equal(c.registry!.uids.holder("ann"), "g2");
  assert.equal(sessionsOf(c, "g1"), 0);
  assert.equal(sessionsOf(c, "g2"), 1);
  assert.equal(second.client.state, "open");
  // g1's session end freed nothing of g2's.
  await sleep(50);
  assert.equal(c.registry!.uids.holder("ann"), "g2");
});

test("refuseNew across gateways: a login on g2 is refused, naming g1; after logout on g1 it succeeds", async (t) => {
  const c = await twoGateways(t, { duplicateLogin: "refuseNew" });
  const first = await login(c, "g1", "bob");
  t.after(() => first.client.close());
  await assert.rejects(login(c, "g2", "bob"), (err: unknown) => err instanceof CommandError && err.code === ErrorCode.LoginRefused && /uid bob is logged in on gateway g1/.test(err.message));
  assert.equal(first.client.state, "open");
  assert.deepEqual(first.kicks, []);
  await first.client.logout();
  await waitFor(() => c.registry!.uids.holder("bob") === undefined, 3000, "the logout to free the uid");
  const second = await login(c, "g2", "bob");
  t.after(() => second.client.close());
  assert.equal(c.registry!.uids.holder("bob"), "g2");
});

test("concurrent logins of one uid on two gateways, 20 rounds: one session survives in the cluster, and the master names its gateway", async (t) => {
  const c = await twoGateways(t);
  const clients: Client[] = [];
  t.after(() => {
    for (const client of clients) client.close();
  });
  for (let round = 0; round < 20; round++) {
    const uid = `racer${round}`;
    const attempts = await Promise.allSettled(["g1", "g2", "g1", "g2"].map((g) => login(c, g, uid)));
    for (const a of attempts) if (a.status === "fulfilled") clients.push(a.value.client);
    // Logins racing at one gateway may be refused while their scene takes another; none may crash.
    for (const a of attempts) if (a.status === "rejected") assert.ok(a.reason instanceof CommandError, String(a.reason));
    await waitFor(() => clients.filter((cl) => cl.session?.uid === uid && cl.state === "open").length <= 1, 3000, `round ${round}: extra sessions to be kicked`);
    await sleep(20);
    const open = clients.filter((cl) => cl.session?.uid === uid && cl.state === "open");
    assert.equal(open.length, 1, `round ${round}: one open session for ${uid}`);
    assert.equal(c.registry!.uids.holder(uid), open[0]!.session!.gateway, `round ${round}: the master names the gateway of the survivor`);
  }
  assert.equal(sessionsOf(c, "g1") + sessionsOf(c, "g2"), 20);
});

test("the master restarts: gateways claim their uids back; a uid logged in on both gateways meanwhile ends on one", async (t) => {
  const c = await twoGateways(t);
  const ann = await login(c, "g1", "ann");
  const cid = await login(c, "g2", "cid");
  t.after(() => {
    ann.client.close();
    cid.client.close();
  });
  const port = c.registryPort;
  await c.registry!.close();
  await waitFor(() => [...c.masterLinks.values()].every((l) => !l.isOpen), 3000, "the links to drop");
  // While the master is away, logins go on: ann logs in on g2 too (nobody can tell g1).
  const ann2 = await login(c, "g2", "ann");
  t.after(() => ann2.client.close());
  assert.equal(ann.client.state, "open");
  const registry = new Registry({ host: "127.0.0.1", port, log: captureLogger().logger });
  await registry.listen();
  t.after(() => registry.close());
  await waitFor(() => [...c.masterLinks.values()].every((l) => l.isOpen), 5000, "the gateways to relink");
  await waitFor(() => registry.uids.holder("cid") === "g2" && registry.uids.holder("ann") !== undefined, 3000, "the uids to be claimed back");
  await waitFor(() => [ann.client, ann2.client].filter((cl) => cl.state === "open").length === 1, 3000, "one of ann's sessions to end");
  const survivor = ann.client.state === "open" ? "g1" : "g2";
  assert.equal(registry.uids.holder("ann"), survivor);
  const loser = survivor === "g1" ? ann2 : ann;
  assert.deepEqual(
    loser.kicks.map((k) => k.code),
    [KickCode.Replaced],
  );
  assert.equal(cid.client.state, "open");
});

test("hostile uid claims at the master are refused without harm", async (t) => {
  const registry = new Registry({ host: "127.0.0.1", port: 0, log: captureLogger().logger });
  const { port } = await registry.listen();
  t.after(() => registry.close());
  const link = new RootClient({ name: "evil", logger: captureLogger().logger, timeoutMs: 2000 });
  await link.connect("127.0.0.1", port);
  t.after(() => link.close());
  for (const bad of ["", "x".repeat(600), 42, null, { uid: "a" }]) {
    await assert.rejects(link.call({ ...ClaimUid, validate: undefined }, bad as never, false), `claim of ${JSON.stringify(bad)}`);
  }
  const reclaim = { kind: "service" as const, name: "glowfly.uid.reclaim", validate: undefined };
  assert.deepEqual(await link.call(reclaim, "not a list"), []);
  await assert.rejects(link.call(reclaim, ["ok", ""] as never));
  assert.equal(registry.uids.size, 0);
  assert.equal((await link.call(ClaimUid, "fine", false)).ok, true);
  assert.equal(registry.uids.holder("fine"), "evil");
});
