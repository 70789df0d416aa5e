/**
 * Link bodies byte for byte (the examples in docs/protocol.md, "Inter-node links"), hello
 * validation, and the pure pieces: the service registry, option checks and backoff.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  backoffDelay,
  decodeCall,
  decodeHello,
  encodeCall,
  encodeHello,
  encodeNative,
  MessageType,
  ProtocolError,
  RpcErrorCode,
  rpcErrorName,
  service,
  ServiceRegistry,
} from "../../src/index.ts";
import { resolveLinkOptions, resolveReconnect } from "../../src/rpc/options.ts";
import { encodeResult } from "../../src/rpc/wire.ts";
import { hex as packed } from "../protocol/frames.ts";
import { hello } from "./helpers.ts";

/** Spaced hex, as the docs print it. */
const hex = (bytes: Uint8Array): string => packed(bytes).replace(/(..)(?!$)/g, "$1 ");

const EnterScene = service<[sessionId: number, sceneId: number], { ok: boolean }>("enterScene");

test("a Request frame for enterScene(42, 7) is byte-exact", () => {
  const body = encodeCall(EnterScene.name, [42, 7]);
  const frame = encodeNative({ type: MessageType.Request, id: 1, command: 0, body });
  assert.equal(hex(frame), "00 00 00 19 03 00 00 00 00 01 00 00 00 00 92 aa 65 6e 74 65 72 53 63 65 6e 65 92 2a 07");
  assert.deepEqual(decodeCall(body), { name: "enterScene", args: [42, 7] });
  // The Response carrying { ok: true } (msgpackr writes maps as map16; any msgpack map is read).
  assert.equal(hex(encodeResult({ ok: true })), "de 00 01 a2 6f 6b c3");
  assert.equal(encodeResult(undefined).length, 0);
  assert.equal(hex(encodeCall("tick", [])), "92 a4 74 69 63 6b 90");
});

test("the hello is UTF-8 JSON and decodes back", () => {
  const text = new TextDecoder().decode(encodeHello({ ...hello("game1"), cluster: "demo" }));
  assert.equal(
    text,
    '{"protocol":1,"link":1,"node":"game1","heartbeatMs":5000,"idleTimeoutMs":15000,"maxBodyBytes":1048576,"maxInFlight":100,"cluster":"demo"}',
  );
  assert.equal(decodeHello(new TextEncoder().encode(text)).cluster, "demo");
});

test("decodeHello refuses what is not a link hello", () => {
  const bad = (body: unknown): RegExp | true => {
    try {
      decodeHello(new TextEncoder().encode(typeof body === "string" ? body : JSON.stringify(body)));
      return true;
    } catch (err) {
      assert.ok(err instanceof ProtocolError);
      assert.equal(err.reason, "bad-handshake");
      return /./;
    }
  };
  assert.equal(bad(hello("ok")), true);
  for (const body of [
    "[]",
    "null",
    "{",
    { ...hello("x"), link: "1" },
    { ...hello("x"), protocol: 2 },
    { ...hello("x"), node: 5 },
    { ...hello("x"), node: "x".repeat(129) },
    { ...hello("x"), cluster: "" },
    { ...hello("x"), maxBodyBytes: 1.5 },
    { ...hello("x"), maxInFlight: -1 },
  ]) {
    assert.notEqual(bad(body), true, JSON.stringify(body));
  }
});

test("decodeCall refuses bodies that are not [serviceName, args]", () => {
  for (const value of [[], ["a"], ["a", [], 1], [1, []], ["", []], ["a", {}], { name: "a" }]) {
    assert.throws(() => decodeCall(encodeResult(value)), /serviceName, args/, JSON.stringify(value));
  }
  assert.throws(() => decodeCall(new Uint8Array([0x92, 0xa1])));
});

test("the registry takes one handler per service; remove frees the name", () => {
  const registry = new ServiceRegistry();
  registry.handle(EnterScene, () => ({ ok: true }));
  assert.throws(() => registry.handle(EnterScene, () => ({ ok: false })), /already has a handler/);
  assert.deepEqual(registry.names(), ["enterScene"]);
  assert.equal(registry.remove(EnterScene), true);
  assert.equal(registry.remove("enterScene"), false);
  registry.handle(EnterScene, () => ({ ok: false }));
  assert.equal(registry.size, 1);
  assert.throws(() => service(""), RangeError);
  assert.throws(() => service("x".repeat(257)), RangeError);
  assert.throws(() => service("bad\nname"), RangeError);
});

test("link options are checked so that no combination silently breaks links", () => {
  assert.throws(() => resolveLinkOptions({ heartbeatMs: 1000, idleTimeoutMs: 1000 }), /idleTimeoutMs must be greater/);
  assert.throws(() => resolveLinkOptions({ maxBodyBytes: 1024, maxOutboundBytes: 1024 }), /maxOutboundBytes/);
  assert.throws(() => resolveLinkOptions({ maxPending: 0 }), /maxPending/);
  assert.throws(() => resolveLinkOptions({ timeoutMs: -1 }), /timeout/);
  assert.equal(resolveLinkOptions({ timeoutMs: undefined }).timeoutMs, 10_000);
  assert.throws(() => resolveReconnect({ jitter: 2 }), RangeError);
  assert.equal(resolveReconnect(false), null);
});

test("backoff grows exponentially to its cap, with bounded jitter", () => {
  const r = { initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0.2 };
  const middle = () => 0.5;
  assert.deepEqual(
    [1, 2, 3, 4, 5, 10].map((n) => backoffDelay(r, n, middle)),
    [100, 200, 400, 800, 1000, 1000],
  );
  assert.equal(backoffDelay(r, 1, () => 0), 80);
  assert.equal(backoffDelay(r, 1, () => 1), 120);
});

test("error codes have names for logs", () => {
  assert.equal(rpcErrorName(RpcErrorCode.Timeout), "Timeout");
  assert.equal(rpcErrorName(RpcErrorCode.NotConnected), "NotConnected");
  assert.equal(rpcErrorName(1001), "app 1001");
});
