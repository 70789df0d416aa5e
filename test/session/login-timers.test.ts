/**
 * FAILING (src/node/node.ts opened(), not committed): every connection to a session gateway
 * starts a login-timeout timer that is never cleared — not when the connection logs in or
 * resumes, not when it closes. A client reconnecting in a tight loop leaves one live timer (and,
 * through its closure, the closed connection and its context) per connection for
 * loginTimeoutMs (default 10 s).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHook } from "node:async_hooks";
import { MessageType, SystemCommand } from "../../src/index.ts";
import { json, portOf, RawClient, sleep } from "../helpers.ts";
import { sessionCluster } from "./cluster.ts";

test("100 connect → resume → drop cycles leave no timers behind", async () => {
  const c = await sessionCluster({ shape: "root", scenes: ["scene1"], sessions: { resumeWindowMs: 5000 } });
  const live = new Set<number>();
  const hook = createHook({
    init(id, type) {
      if (type === "Timeout") live.add(id);
    },
    destroy(id) {
      live.delete(id);
    },
  });
  try {
    const port = portOf(c.gateways.get("gateway")!, "tcp");
    let raw = await RawClient.open(port);
    raw.request(1, SystemCommand.Login, { credentials: { name: "loop" } });
    let answer = await raw.next((m) => m.type === MessageType.Response);
    let token = (json(answer.body) as { token: string }).token;
    raw.close();
    await sleep(50);
    hook.enable();
    for (let i = 0; i < 100; i++) {
      raw = await RawClient.open(port);
      raw.request(1, SystemCommand.Resume, { token, lastSeq: 0 });
      answer = await raw.next((m) => m.type === MessageType.Response);
      token = (json(answer.body) as { token: string }).token;
      raw.close();
    }
    await sleep(300);
    hook.disable();
    // Expected: a handful (the last session's detach timer, the test's own polling).
    // Actual: 100+ — one login-timeout timer per connection, alive until loginTimeoutMs.
    assert.ok(live.size < 20, `${live.size} timers created during the loop are still pending`);
  } finally {
    hook.disable();
    await c.stop();
  }
});
