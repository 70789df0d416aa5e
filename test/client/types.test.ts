/**
 * Types flow from one declaration to the handler and the client call. The `@ts-expect-error`
 * lines are checked by `npm run typecheck`: if a mistyped call stopped being an error, the
 * typecheck would fail. The test body also runs the well-typed calls for real.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { command, defineApp, push } from "../../src/index.ts";
import { connect } from "../../src/client/index.ts";
import { portOf, startNode } from "../helpers.ts";

const Buy = command<{ item: string; count: number }, { gold: number }>(31, { name: "buy" });
const GoldChanged = push<{ gold: number }>(131);

const app = defineApp((node) => {
  node.commands.handle(Buy, (req, client) => {
    const count: number = req.count;
    // @ts-expect-error the request has no field "price"
    void req.price;
    client.push(GoldChanged, { gold: 100 - count });
    return { gold: 100 - count };
  });
});

/** Compiled, never run: handlers and pushes are checked against their declarations. */
export const mistypedHandler = defineApp((node) => {
  // @ts-expect-error the handler must return the declared reply type
  node.commands.handle(Buy, () => ({ silver: 1 }));
  // @ts-expect-error a push carries its declared type
  node.broadcast(GoldChanged, { gold: "lots" });
});

test("one declaration types the handler, the client call, its reply and pushes", async () => {
  const node = await startNode({ tcp: [{ port: 0 }] }, [app]);
  const client = await connect(`tcp://127.0.0.1:${portOf(node, "tcp")}`, { reconnect: false });
  try {
    let pushed = -1;
    client.on(GoldChanged, (message) => {
      const gold: number = message.gold;
      pushed = gold;
    });
    const reply = await client.request(Buy, { item: "sword", count: 3 });
    const gold: number = reply.gold;
    assert.equal(gold, 97);
    assert.equal(pushed, 97);
    // @ts-expect-error the reply has no field "silver"
    void reply.silver;
    // Compiled, never called: the request is checked against the declaration.
    // @ts-expect-error count must be a number
    const mistypedCall = () => client.request(Buy, { item: "sword", count: "3" });
    assert.equal(typeof mistypedCall, "function");
  } finally {
    client.close();
    await node.stop();
  }
});
