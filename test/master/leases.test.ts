/**
 * Leases kept by the master (no Redis), over real loopback links: a holder is asked to hand
 * over; a node whose link dropped keeps its leases while it is away (its journal may hold changes
 * only its replay writes); when it comes back as a new process, holding nothing in memory, it
 * gives such a lease up as soon as another node asks.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { LeaseTable } from "../../src/master/leases.ts";
import { MasterOwnership } from "../../src/node/master-ownership.ts";
import { OwnershipTimeoutError, RootClient, RootServer } from "../../src/index.ts";
import { captureLogger, waitFor } from "../helpers.ts";

async function master(t: TestContext) {
  const logger = captureLogger().logger;
  const server = new RootServer({ name: "master", host: "127.0.0.1", port: 0, logger });
  const leases = new LeaseTable(server, { claimGraceMs: 0 });
  const { port } = await server.listen();
  t.after(async () => {
    leases.close();
    await server.close();
  });
  const join = async (name: string, waitMs = 3000) => {
    const link = new RootClient({ name, logger, timeoutMs: 2000 });
    const ownership = new MasterOwnership(link, name, waitMs, logger);
    await link.connect("127.0.0.1", port);
    return { link, ownership };
  };
  return { server, leases, join };
}

test("the master's leases: hand-over on request, kept while the holder is away, released by its next process", async (t) => {
  const { server, leases, join } = await master(t);
  const a = await join("a");
  const b = await join("b", 300);
  await a.ownership.acquire("t/1");
  assert.equal(leases.holder("t/1"), "a");
  // a has no cache attached here, so it never hands over: b times out, naming a.
  await assert.rejects(b.ownership.acquire("t/1"), (err: unknown) => err instanceof OwnershipTimeoutError && /held by a/.test(err.message));
  // With a hand-over handler, a gives it up and b gets it.
  a.ownership.onRequest((key) => void a.ownership.release(key));
  await b.ownership.acquire("t/1");
  assert.equal(leases.holder("t/1"), "b");

  // b goes away holding t/1: nobody may take it while it is away.
  await b.link.close();
  await waitFor(() => !server.children().includes("b"), 3000, "b's link to drop");
  await assert.rejects(a.ownership.acquire("t/1"), OwnershipTimeoutError);
  assert.equal(leases.holder("t/1"), "b");
  // b's next process (same name, nothing in memory) keeps it until its cache is open (journal
  // replayed: no handler yet), then releases it when asked.
  const b2 = await join("b");
  await waitFor(() => server.children().includes("b"), 3000, "b to come back");
  const c = await join("c", 300);
  await assert.rejects(c.ownership.acquire("t/1"), (err: unknown) => err instanceof OwnershipTimeoutError && /held by b/.test(err.message));
  await c.link.close();
  b2.ownership.onRequest((key) => void b2.ownership.release(key));
  await a.ownership.acquire("t/1");
  assert.equal(leases.holder("t/1"), "a");
  assert.equal(b2.ownership.owns("t/1"), false);

  // Bad keys from a peer are refused without harm.
  await assert.rejects(a.link.call({ kind: "service", name: "glowfly.lease.acquire", validate: undefined }, "x".repeat(600)));
  for (const n of [a, b2]) {
    await n.ownership.close();
    await n.link.close();
  }
  assert.equal(leases.size, 0, "closing released everything");
});

test("a grant answered after the node released the key is not kept: node and master agree on the holder", async (t) => {
  const { leases, join } = await master(t);
  const a = await join("a");
  t.after(async () => {
    await a.ownership.close();
    await a.link.close();
  });
  for (let round = 0; round < 20; round++) {
    await a.ownership.acquire("t/2");
    // The request is on the wire before the release, so the master grants it, then releases.
    const again = a.ownership.acquire("t/2");
    await a.ownership.release("t/2");
    await again;
    assert.equal(leases.holder("t/2"), a.ownership.owns("t/2") ? "a" : undefined, `round ${round}: the node thinks it owns the key iff the master lists it`);
    await a.ownership.release("t/2");
  }
});

test("a hand-over request that overtakes the grant it follows: one holder, and node and master agree", async (t) => {
  const { leases, join } = await master(t);
  const a = await join("a");
  const b = await join("b");
  t.after(async () => {
    for (const n of [a, b]) {
      await n.ownership.close();
      await n.link.close();
    }
  });
  for (const n of [a, b]) n.ownership.onRequest((key) => void n.ownership.release(key));
  for (let round = 0; round < 20; round++) {
    const key = `t/r${round}`;
    // a's grant and the master's request that a hand it to b leave in one write, so a reads the
    // request before its acquire sees the grant.
    const first = a.ownership.acquire(key);
    const second = b.ownership.acquire(key);
    await Promise.all([first, second]);
    const holder = leases.holder(key);
    assert.equal(a.ownership.owns(key), holder === "a", `round ${round}: a's view vs the master's holder ${holder}`);
    assert.equal(b.ownership.owns(key), holder === "b", `round ${round}: b's view vs the master's holder ${holder}`);
  }
});

test("a holder that takes the lease back at once cannot starve another node: the released lease waits for the longest asker", async (t) => {
  const { leases, join } = await master(t);
  const a = await join("a");
  const b = await join("b", 1500);
  t.after(async () => {
    for (const n of [a, b]) {
      await n.ownership.close();
      await n.link.close();
    }
  });
  // a hands over as asked, but its next operation asks for the lease again in the same moment.
  a.ownership.onRequest((key) => {
    void a.ownership.release(key).then(() => a.ownership.acquire(key).catch(() => undefined));
  });
  b.ownership.onRequest((key) => void b.ownership.release(key));
  await a.ownership.acquire("t/hot");
  await b.ownership.acquire("t/hot");
  assert.equal(leases.holder("t/hot"), "b");
  // And back: b's release keeps it for a, which has been asking meanwhile.
  await waitFor(() => leases.holder("t/hot") === "a" && a.ownership.owns("t/hot") && !b.ownership.owns("t/hot"), 3000, "a to get it back");
});
