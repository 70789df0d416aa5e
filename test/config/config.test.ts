/**
 * Node config validation: every problem is a ConfigError naming the key path and what was
 * expected; unknown keys are errors; hostile input is rejected, never crashes or hangs.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadNodeConfigFile, parseNodeConfig, resolveLimits, DEFAULT_LIMITS, Node } from "../../src/index.ts";
import { captureLogger } from "../helpers.ts";

/** Parse `value`, expect a ConfigError, and return its issue lines. */
function issuesOf(value: unknown, source = "test.json"): readonly string[] {
  let caught: unknown;
  try {
    parseNodeConfig(value, source);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${caught === undefined ? "success" : caught instanceof Error ? caught.stack : typeof caught}`);
  assert.equal(caught.source, source);
  assert.ok(caught.issues.length > 0);
  assert.ok(caught.message.includes(source), "the message names the source");
  assert.ok(caught.message.endsWith(caught.issues.join("\n  ")), "the message lists every issue");
  return caught.issues;
}

/** Assert exactly one issue, at `path`, matching `expect`. */
function assertIssue(value: unknown, path: string, expect: RegExp): void {
  const issues = issuesOf(value);
  assert.equal(issues.length, 1, `one issue expected, got:\n${issues.join("\n")}`);
  const [issue = ""] = issues;
  assert.ok(issue.startsWith(`${path}: `), `issue "${issue}" should name ${path}`);
  assert.match(issue, expect);
}

const valid = {
  name: "game-1.eu_west",
  app: ["./app.ts", "./more.ts"],
  codec: "msgpack",
  tcp: [
    { port: 4100, host: "0.0.0.0", frame: "native", limits: { maxInFlight: 8 } },
    { port: 4101, frame: "firefly", firefly: { magic: [0x47, 0x4c, 0x4f, 0x57], protocolVersion: 3, serverVersion: 0xffff_ffff, errors: "drop" } },
  ],
  ws: [{ port: 0, path: "/game", limits: { maxBodyBytes: 4096 } }],
  limits: { maxBodyBytes: 65536, maxOutboundBytes: 65536 + 64, heartbeatMs: 1000, idleTimeoutMs: 1001, handshakeTimeoutMs: 500 },
  maxConnections: 1000,
  stopDeadlineMs: 2000,
  log: { level: "warn" },
} as const;

test("a valid config passes and comes back unchanged", () => {
  assert.deepEqual(parseNodeConfig(valid), valid);
  assert.deepEqual(parseNodeConfig({ name: "minimal" }), { name: "minimal" });
  // Ports resolve their limits: defaults, then node level, then port level.
  const parsed = parseNodeConfig(valid);
  assert.deepEqual(resolveLimits(parsed.limits, parsed.tcp?.[0]?.limits), { ...DEFAULT_LIMITS, ...valid.limits, maxInFlight: 8 });
});

test("unknown keys are errors naming their path, at the top level and nested", () => {
  assertIssue({ name: "a", bogus: 1 }, "(top level)", /unknown key\(s\) "bogus"/);
  assertIssue({ name: "a", tcp: [{ port: 0, limits: { bogus: 1 } }] }, "tcp[0].limits", /unknown key\(s\) "bogus"/);
  assertIssue({ name: "a", tcp: [{ port: 0 }, { port: 0, firefly: { magik: [0, 0, 0, 0] } }] }, "tcp[1].firefly", /"magik"/);
  assertIssue({ name: "a", ws: [{ port: 0, frame: "firefly" }] }, "ws[0]", /unknown key\(s\) "frame"/);
  assertIssue({ name: "a", log: { level: "info", file: "x.log" } }, "log", /"file"/);
  // A typo of a real key is still unknown, and several are listed together.
  assertIssue({ name: "a", limits: { maxBody: 10, heartbeat: 5 } }, "limits", /"maxBody", "heartbeat"/);
  // Keys that are special in JavaScript are just unknown keys.
  const proto = JSON.parse('{"name":"a","__proto__":{"name":"b"}}') as unknown;
  assertIssue(proto, "(top level)", /"__proto__"/);
  assertIssue({ name: "a", constructor: "x" }, "(top level)", /"constructor"/);
});

test("wrong types name the path and what was expected", () => {
  assertIssue({ name: "a", tcp: [{ port: "4100" }] }, "tcp[0].port", /expected number, received string/);
  assertIssue({ name: 42 }, "name", /expected string/);
  assertIssue({}, "name", /expected string, received undefined/);
  assertIssue({ name: "has space" }, "name", /1 to 64 letters/);
  assertIssue({ name: "a", tcp: { port: 1 } }, "tcp", /expected array/);
  assertIssue({ name: "a", tcp: [{}] }, "tcp[0].port", /expected number/);
  assertIssue({ name: "a", tcp: [{ port: 1, frame: "websocket" }] }, "tcp[0].frame", /"native"\|"firefly"/);
  assertIssue({ name: "a", codec: "xml" }, "codec", /"raw"\|"json"\|"msgpack"/);
  assertIssue({ name: "a", ws: [{ port: 1, path: "game" }] }, "ws[0].path", /start with "\/"/);
  assertIssue({ name: "a", limits: { maxInFlight: 2.5 } }, "limits.maxInFlight", /expected int/);
  assertIssue({ name: "a", limits: { heartbeatMs: 0 } }, "limits.heartbeatMs", /expected number to be >0/);
  assertIssue({ name: "a", limits: { maxBodyBytes: 64 * 1024 * 1024 + 1 } }, "limits.maxBodyBytes", /<=67108864/);
  assertIssue({ name: "a", app: [""] }, "app[0]", />=1 characters/);
  assertIssue({ name: "a", app: 7 }, "app", /expected a module path or a list of module paths/);
  assertIssue({ name: "a", app: [1] }, "app", /expected a module path/);
  assertIssue({ name: "a", log: { level: "trace" } }, "log.level", /"debug"/);
  // Several problems are all reported, each with its own path.
  const issues = issuesOf({ name: "", tcp: [{ port: -1 }], ws: [{ port: true }] });
  assert.deepEqual(
    issues.map((i) => i.split(": ")[0]),
    ["name", "tcp[0].port", "ws[0].port"],
  );
});

test("ports must be integers in 0..65535", () => {
  for (const port of [0, 1, 65535]) assert.doesNotThrow(() => parseNodeConfig({ name: "a", tcp: [{ port }], ws: [{ port }] }));
  assertIssue({ name: "a", tcp: [{ port: 65536 }] }, "tcp[0].port", /<=65535/);
  assertIssue({ name: "a", tcp: [{ port: -1 }] }, "tcp[0].port", />=0/);
  assertIssue({ name: "a", ws: [{ port: 80.5 }] }, "ws[0].port", /expected int/);
  assertIssue({ name: "a", ws: [{ port: Number.NaN }] }, "ws[0].port", /expected number, received NaN/);
  assertIssue({ name: "a", tcp: [{ port: Number.POSITIVE_INFINITY }] }, "tcp[0].port", /./);
});

test("the Firefly magic is exactly four bytes", () => {
  const firefly = (magic: unknown) => ({ name: "a", tcp: [{ port: 0, frame: "firefly", firefly: { magic } }] });
  assert.doesNotThrow(() => parseNodeConfig(firefly([0, 255, 1, 2])));
  assertIssue(firefly([1, 2, 3, 4, 5]), "tcp[0].firefly.magic", /<=4 items/);
  assertIssue(firefly([1, 2, 3]), "tcp[0].firefly.magic", />=4 items/);
  assertIssue(firefly([1, 2, 3, 256]), "tcp[0].firefly.magic[3]", /<=255/);
  assertIssue(firefly([1, -1, 3, 4]), "tcp[0].firefly.magic[1]", />=0/);
  assertIssue(firefly("GLOW"), "tcp[0].firefly.magic", /expected tuple/);
  assertIssue({ name: "a", tcp: [{ port: 0, firefly: { protocolVersion: 256 } }] }, "tcp[0].firefly.protocolVersion", /<=255/);
  assertIssue({ name: "a", tcp: [{ port: 0, firefly: { serverVersion: 2 ** 32 } }] }, "tcp[0].firefly.serverVersion", /<=4294967295/);
});

test("limit relations: the outbound queue holds a frame, the idle timeout exceeds the heartbeat", () => {
  // Boundaries: maxOutboundBytes = maxBodyBytes + 64 and idleTimeoutMs = heartbeatMs + 1 are fine.
  assert.doesNotThrow(() => parseNodeConfig({ name: "a", limits: { maxBodyBytes: 1000, maxOutboundBytes: 1064, heartbeatMs: 100, idleTimeoutMs: 101 } }));
  assertIssue({ name: "a", limits: { maxBodyBytes: 1000, maxOutboundBytes: 1063 } }, "limits.maxOutboundBytes", /maxBodyBytes \+ 64 = 1064/);
  assertIssue({ name: "a", limits: { maxOutboundBytes: 500, maxBodyBytes: 1000 } }, "limits.maxOutboundBytes", /at least one full frame/);
  assertIssue({ name: "a", limits: { heartbeatMs: 100, idleTimeoutMs: 100 } }, "limits.idleTimeoutMs", /greater than heartbeatMs \(100\)/);
  assertIssue({ name: "a", limits: { heartbeatMs: 100, idleTimeoutMs: 50 } }, "limits.idleTimeoutMs", /greater than heartbeatMs/);
  // A default on one side counts: a heartbeat above the default idle timeout (30 s).
  assertIssue({ name: "a", limits: { heartbeatMs: 60_000 } }, "limits.idleTimeoutMs", /heartbeatMs \(60000\)/);
  // Port limits are checked after merging with the node's, and named by the port.
  assertIssue(
    { name: "a", limits: { heartbeatMs: 1000, idleTimeoutMs: 5000 }, tcp: [{ port: 0 }, { port: 0, limits: { idleTimeoutMs: 1000 } }] },
    "tcp[1].limits.idleTimeoutMs",
    /heartbeatMs \(1000\)/,
  );
  assertIssue({ name: "a", ws: [{ port: 0, limits: { maxBodyBytes: 8 * 1024 * 1024 } }] }, "ws[0].limits.maxOutboundBytes", /8388672/);
  // Every broken relation is reported.
  const issues = issuesOf({ name: "a", limits: { maxOutboundBytes: 10, heartbeatMs: 10, idleTimeoutMs: 5 } });
  assert.deepEqual(
    issues.map((i) => i.split(": ")[0]),
    ["limits.maxOutboundBytes", "limits.idleTimeoutMs"],
  );
});

test("hostile input gives a ConfigError, never a crash or a hang", () => {
  const started = Date.now();
  for (const value of [null, undefined, 0, "config", true, [], [{ name: "a" }], () => {}, Symbol("x")]) {
    const issues = issuesOf(value);
    assert.match(issues[0] ?? "", /^\(top level\): .*expected object/);
  }
  // Objects that are not plain records have no valid keys.
  for (const value of [new Map([["name", "a"]]), new Date(), Object.create(null) as object]) issuesOf(value);

  // A 100k-element listener array validates (or is refused) in bounded time.
  const many = { name: "a", tcp: Array.from({ length: 100_000 }, () => ({ port: 0 })) };
  assert.equal(parseNodeConfig(many).tcp?.length, 100_000);
  const manyBad = { name: "a", tcp: Array.from({ length: 100_000 }, (_, i) => ({ port: i % 2 === 0 ? 0 : "x" })) };
  assert.equal(issuesOf(manyBad).length, 50_000);

  // Deeply nested junk where a number or an object is expected.
  let deep: unknown = 1;
  for (let i = 0; i < 10_000; i++) deep = { a: deep, b: [deep] };
  assertIssue({ name: "a", limits: { maxBodyBytes: deep } }, "limits.maxBodyBytes", /expected number, received object/);
  assertIssue({ name: "a", junk: deep }, "(top level)", /"junk"/);
  assert.deepEqual(issuesOf({ name: "a", tcp: [deep] }), ["tcp[0].port: Invalid input: expected number, received undefined", 'tcp[0]: unknown key(s) "a", "b"']);
  let deepArray: unknown = [];
  for (let i = 0; i < 100_000; i++) deepArray = [deepArray];
  assertIssue({ name: "a", tcp: deepArray }, "tcp[0]", /expected object, received array/);

  // Huge strings and a key named like a path are just values.
  assertIssue({ name: "x".repeat(1_000_000) }, "name", /1 to 64 letters/);
  assertIssue({ name: "a", "tcp[0].port": 1 }, "(top level)", /"tcp\[0\]\.port"/);
  assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
});

test("a Node refuses an invalid config with the same ConfigError", () => {
  assert.throws(
    () => new Node({ config: { name: "a", tcp: [{ port: 0, limits: { bogus: 1 } }] } as never, logger: captureLogger().logger }),
    (err: unknown) => err instanceof ConfigError && err.issues.some((i) => i.startsWith("tcp[0].limits: ") && i.includes('"bogus"')),
  );
});

test("loadNodeConfigFile reads a file and names it in every error", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "glowfly-config-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const write = async (name: string, text: string) => {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  };
  const expectError = async (path: string, expect: RegExp) => {
    await assert.rejects(loadNodeConfigFile(path), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.equal(err.source, path);
      assert.ok(err.message.includes(path), `"${err.message}" names ${path}`);
      assert.match(err.issues.join("\n"), expect);
      return true;
    });
  };

  const good = await write("good.json", JSON.stringify(valid, null, 2));
  assert.deepEqual(await loadNodeConfigFile(good), valid);

  await expectError(join(dir, "missing.json"), /cannot read the file: .*ENOENT/);
  await mkdir(join(dir, "a-directory.json"));
  await expectError(join(dir, "a-directory.json"), /cannot read the file/);
  await expectError(await write("broken.json", '{ "name": "a", '), /not valid JSON/);
  await expectError(await write("empty.json", ""), /not valid JSON/);
  await expectError(await write("comments.json", '// a comment\n{ "name": "a" }'), /not valid JSON/);
  await expectError(await write("null.json", "null"), /\(top level\): .*expected object, received null/);
  await expectError(await write("array.json", '[{ "name": "a" }]'), /\(top level\): .*expected object, received array/);
  await expectError(await write("bad-key.json", '{ "name": "a", "tcp": [{ "port": 1, "limits": { "bogus": 1 } }] }'), /^tcp\[0\]\.limits: unknown key\(s\) "bogus"$/);
  await expectError(await write("binary.json", "\u0000\u00ff\ufffe{"), /not valid JSON/);
});
