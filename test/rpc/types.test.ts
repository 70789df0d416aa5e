/**
 * One service declaration types the handler, every call site and the result. The
 * `@ts-expect-error` lines are checked by `npm run typecheck`: if a mistyped call stopped
 * being an error, the typecheck would fail. The test body runs the well-typed calls for real.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { service, ServiceRegistry, type ArgsOf, type Caller, type ResultOf, type RootServer } from "../../src/index.ts";
import { startRemote, startRoot } from "./helpers.ts";

const EnterScene = service<[sessionId: number, sceneId: number], { ok: boolean }>("enterScene");
const Ping = service<[], "pong">("ping");

/** Compiled, never run: handlers are checked against their declarations. */
export function mistypedHandlers(registry: ServiceRegistry): void {
  registry.handle(EnterScene, ([sessionId, sceneId]) => {
    const s: number = sessionId;
    const n: number = sceneId;
    return { ok: s > n };
  });
  // @ts-expect-error the handler must return the declared result
  registry.handle(EnterScene, () => ({ ok: "yes" }));
  // @ts-expect-error the arguments are numbers
  registry.handle(EnterScene, ([sessionId]: [string, number]) => ({ ok: sessionId === "" }));
  registry.handle(EnterScene, ([sessionId]) => {
    // @ts-expect-error sessionId is a number
    const wrong: string = sessionId;
    return { ok: wrong === "" };
  });
}

/** Compiled, never run: call sites are checked against the declaration. */
export async function mistypedCalls(caller: Caller, root: RootServer): Promise<void> {
  const reply = await caller.call(EnterScene, 1, 2);
  const ok: boolean = reply.ok;
  // @ts-expect-error the result has no field "scene"
  void reply.scene;
  // @ts-expect-error sceneId must be a number
  await caller.call(EnterScene, 1, "2");
  // @ts-expect-error two arguments are declared
  await caller.call(EnterScene, 1);
  // @ts-expect-error two arguments are declared
  await caller.call(EnterScene, 1, 2, 3);
  // @ts-expect-error sceneId must be a number, per-call timeout or not
  await caller.withTimeout(50).call(EnterScene, 1, "2");
  // @ts-expect-error sceneId must be a number, on a root too
  await root.callChild("game1", EnterScene, 1, "2");
  // @ts-expect-error sceneId must be a number, on a root with a timeout too
  await root.withTimeout(50).callChild("game1", EnterScene, 1, "2");
  // @ts-expect-error notify is checked the same way
  caller.notify(EnterScene, "1", 2);
  const pong: "pong" = await root.callChild("game1", Ping);
  void [ok, pong];
}

// The helper types read a declaration back.
type Args = ArgsOf<typeof EnterScene>;
type Result = ResultOf<typeof EnterScene>;
export const argsExample: Args = [1, 2];
export const resultExample: Result = { ok: true };
// @ts-expect-error ArgsOf keeps the tuple
export const badArgs: Args = [1];

test("one declaration types handler, call and result on both ends", async (t) => {
  const { root, port } = await startRoot(t);
  root.services.handle(EnterScene, ([sessionId, sceneId]) => ({ ok: sessionId === 42 && sceneId === 7 }));
  const { remote } = await startRemote(t, port);
  remote.services.handle(Ping, () => "pong" as const);
  const reply = await remote.call(EnterScene, 42, 7);
  const ok: boolean = reply.ok;
  assert.equal(ok, true);
  const pong: "pong" = await root.withTimeout(1000).callChild("game1", Ping);
  assert.equal(pong, "pong");
});
