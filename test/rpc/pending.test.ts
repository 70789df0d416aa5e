/**
 * The pending-call table: one timer for every deadline, expiry in deadline order across
 * different timeouts, nothing left behind when replies come out of order.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { PendingCalls, type PendingCall, type ReplyType } from "../../src/rpc/pending.ts";
import type { RpcError } from "../../src/index.ts";
import { sleep, waitFor } from "../helpers.ts";

class Probe implements PendingCall {
  timeoutMs = 0;
  settled: ReplyType | null = null;
  failed: RpcError | null = null;
  constructor(readonly service: string) {}
  settle(type: ReplyType): void {
    this.settled = type;
  }
  fail(err: RpcError): void {
    this.failed = err;
  }
}

function table(max = 100_000) {
  const expired: { call: PendingCall; timeoutMs: number; at: number }[] = [];
  const started = Date.now();
  const pending = new PendingCalls(max, (call, timeoutMs) => expired.push({ call, timeoutMs, at: Date.now() - started }));
  return { pending, expired };
}

test("calls with different timeouts expire in deadline order, each no sooner than its timeout", async () => {
  const { pending, expired } = table();
  const slow = new Probe("slow");
  const fast = new Probe("fast");
  const mid = new Probe("mid");
  pending.add(slow, 300);
  pending.add(fast, 50);
  pending.add(mid, 150);
  await waitFor(() => expired.length === 3, 2000, "all three to expire");
  assert.deepEqual(
    expired.map((e) => e.call.service),
    ["fast", "mid", "slow"],
  );
  for (const e of expired) assert.ok(e.at >= e.timeoutMs, `${e.call.service} expired after ${e.at} ms, timeout ${e.timeoutMs}`);
  assert.equal(pending.size, 0);
});

test("a call that is answered never expires, and ids are unique while waiting", async () => {
  const { pending, expired } = table();
  const ids = new Set<number>();
  const calls = Array.from({ length: 1000 }, (_, i) => new Probe(`c${i}`));
  for (const call of calls) ids.add(pending.add(call, 80));
  assert.equal(ids.size, 1000);
  assert.ok(!ids.has(0), "0 is never a request id");
  // Answer every other one, out of order.
  const list = [...ids];
  for (let i = list.length - 1; i >= 0; i -= 2) assert.ok(pending.take(list[i]!) !== undefined);
  assert.equal(pending.take(list[list.length - 1]!), undefined, "a call leaves the table once");
  await waitFor(() => expired.length === 500, 2000, "the unanswered half to expire");
  await sleep(100);
  assert.equal(expired.length, 500, "answered calls never expire");
  assert.equal(pending.size, 0);
});

test("many calls answered out of order behind one slow call: the table stays usable and the slow one still expires", async () => {
  const { pending, expired } = table();
  const slowId = pending.add(new Probe("slow"), 200);
  // 50,000 calls answered at once, while the head of the queue (the slow call) is still waiting.
  for (let i = 0; i < 50_000; i++) pending.take(pending.add(new Probe("quick"), 200));
  assert.equal(pending.size, 1);
  assert.ok(pending.entries <= 2 + 64, `answered calls are dropped from the deadline queue (holds ${pending.entries})`);
  await waitFor(() => expired.length === 1, 2000, "the slow call to expire");
  assert.equal(expired[0]!.call.service, "slow");
  assert.equal(pending.take(slowId), undefined);
});

test("the table is bounded, and takeAll empties it and stops the timer", async () => {
  const { pending, expired } = table(3);
  for (let i = 0; i < 3; i++) pending.add(new Probe(`c${i}`), 50);
  assert.equal(pending.full, true);
  const all = pending.takeAll();
  assert.equal(all.length, 3);
  assert.equal(pending.size, 0);
  await sleep(120);
  assert.equal(expired.length, 0, "calls taken by takeAll do not expire later");
});

test("a call added from inside an expiry is timed too", async () => {
  const expired: string[] = [];
  const pending: PendingCalls = new PendingCalls(10, (call) => {
    expired.push(call.service);
    if (call.service === "first") pending.add(new Probe("second"), 30);
  });
  pending.add(new Probe("first"), 30);
  await waitFor(() => expired.length === 2, 2000, "both to expire");
  assert.deepEqual(expired, ["first", "second"]);
});
