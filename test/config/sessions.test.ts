/**
 * The `sessions` config key (docs/config.md, "Sessions"): defaults, `true`, every key at its
 * bounds and past them with the exact key path in the message, in a node config and in a cluster
 * config's server (client ports required, scenes must be servers, resolved onto the ClusterNode
 * and copied into its node config), and hostile input refused in bounded time.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ConfigError,
  DEFAULT_SESSION_SETTINGS,
  defineConfig,
  parseClusterConfig,
  parseNodeConfig,
  resolveSessionSettings,
  sessionSettingsSchema,
  type ClusterConfig,
  type ParseClusterOptions,
  type SessionSettings,
  type SessionSettingsInput,
} from "../../src/index.ts";

const MAX_TIMER_MS = 2_147_483_647;

/** Run `parse`, expect a ConfigError, and return its issue lines. */
function issuesFrom(parse: () => unknown): readonly string[] {
  let caught: unknown;
  try {
    parse();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${caught === undefined ? "success" : caught instanceof Error ? caught.stack : typeof caught}`);
  assert.ok(caught.issues.length > 0);
  assert.ok(caught.message.endsWith(caught.issues.join("\n  ")), "the message lists every issue");
  return caught.issues;
}

/** Exactly one issue, at `path`, matching `expect`. */
function assertOne(issues: readonly string[], path: string, expect: RegExp): void {
  assert.equal(issues.length, 1, `one issue expected, got:\n${issues.join("\n")}`);
  const [issue = ""] = issues;
  assert.ok(issue.startsWith(`${path}: `), `issue "${issue}" should name ${path}`);
  assert.match(issue, expect);
}

/** A node config with these sessions. */
const node = (sessions: unknown) => ({ name: "gw", tcp: [{ port: 0 }], sessions });
const nodeIssues = (sessions: unknown) => issuesFrom(() => parseNodeConfig(node(sessions)));
const assertNodeIssue = (sessions: unknown, path: string, expect: RegExp) => assertOne(nodeIssues(sessions), path, expect);

const NO_FILES: ParseClusterOptions = { checkFiles: false, source: "cluster.json", baseDir: "/srv/game" };

/** gate (root), net (client port, linked to gate) with these sessions, game1 and game2 (scenes). */
function cluster(sessions: unknown, net: Record<string, unknown> = { netport: 10001 }): Record<string, unknown> {
  return {
    servers: {
      gate: { rootport: 10000 },
      net: { ...net, remoteport: [{ rootname: "gate" }], sessions },
      game1: { remoteport: [{ rootname: "gate" }] },
      game2: { remoteport: [{ rootname: "gate" }] },
    },
  };
}
const parseCluster = (value: unknown): ClusterConfig => parseClusterConfig(value, NO_FILES);
const clusterIssues = (value: unknown) => issuesFrom(() => parseClusterConfig(value, NO_FILES));

function nodeOf(config: ClusterConfig, name: string) {
  const n = config.nodes.get(name);
  assert.ok(n, `node ${name}`);
  return n;
}

/** Integer keys and their inclusive bounds, as docs/config.md lists them. */
const INTEGER_KEYS: ReadonlyArray<readonly [key: keyof SessionSettingsInput, min: number, max: number]> = [
  ["loginTimeoutMs", 1, MAX_TIMER_MS],
  ["verifyTimeoutMs", 1, MAX_TIMER_MS],
  ["hookTimeoutMs", 1, MAX_TIMER_MS],
  ["resumeWindowMs", 0, MAX_TIMER_MS],
  ["replayMessages", 0, 65_536],
  ["replayBytes", 0, 67_108_864],
  ["maxDataBytes", 16, 65_536],
  ["maxChannels", 1, 4096],
  ["maxSessions", 1, 10_000_000],
];

test("defaults: as documented, frozen, and what undefined, true and {} resolve to", () => {
  const expected: SessionSettings = {
    scene: null,
    duplicateLogin: "kickOld",
    loginTimeoutMs: 10_000,
    verifyTimeoutMs: 5_000,
    hookTimeoutMs: 5_000,
    resumeWindowMs: 30_000,
    replayMessages: 256,
    replayBytes: 262_144,
    maxDataBytes: 1024,
    maxChannels: 64,
    maxSessions: null,
    sceneLost: "kick",
  };
  assert.deepEqual(DEFAULT_SESSION_SETTINGS, expected);
  assert.ok(Object.isFrozen(DEFAULT_SESSION_SETTINGS));
  for (const input of [undefined, true, {}] as const) assert.deepEqual(resolveSessionSettings(input), expected);
  // Each resolve is a fresh object: changing one does not change the defaults or the next one.
  const resolved = resolveSessionSettings(true);
  resolved.maxChannels = 1;
  assert.equal(DEFAULT_SESSION_SETTINGS.maxChannels, 64);
  assert.equal(resolveSessionSettings(true).maxChannels, 64);
  // Keys present as undefined fall back to their defaults too.
  assert.deepEqual(resolveSessionSettings({ scene: undefined, maxSessions: undefined, sceneLost: undefined }), expected);
});

test("a node config accepts sessions: true and an object, and returns them unchanged", () => {
  assert.equal(parseNodeConfig(node(true)).sessions, true);
  assert.deepEqual(parseNodeConfig(node({})).sessions, {});
  assert.equal(parseNodeConfig({ name: "gw" }).sessions, undefined);
  const full = {
    scene: "scene1",
    duplicateLogin: "refuseNew",
    loginTimeoutMs: 1,
    verifyTimeoutMs: 2,
    hookTimeoutMs: 3,
    resumeWindowMs: 0,
    replayMessages: 0,
    replayBytes: 0,
    maxDataBytes: 16,
    maxChannels: 1,
    maxSessions: 1,
    sceneLost: { fallback: "lobby" },
  } as const;
  const parsed = parseNodeConfig(node(full));
  assert.deepEqual(parsed.sessions, full);
  assert.deepEqual(resolveSessionSettings(parsed.sessions), { ...full, sceneLost: { fallback: "lobby" } });
  // The resolved sceneLost is a copy, not the config's object.
  const input: SessionSettingsInput = { sceneLost: { fallback: "lobby" } };
  assert.notEqual(resolveSessionSettings(input).sceneLost, input.sceneLost);
  // The schema on its own: the same object, every key optional.
  assert.deepEqual(sessionSettingsSchema.parse(full), full);
  assert.deepEqual(sessionSettingsSchema.parse({}), {});
});

test("every integer key is accepted at its bounds and refused past them, naming sessions.<key>", () => {
  for (const [key, min, max] of INTEGER_KEYS) {
    for (const value of [min, max]) {
      assert.equal(resolveSessionSettings(parseNodeConfig(node({ [key]: value })).sessions)[key], value, `${key} = ${value}`);
    }
    const path = `sessions.${key}`;
    assertNodeIssue({ [key]: min - 1 }, path, new RegExp(`^${path}: Too small: expected number to be >=${min}$`));
    assertNodeIssue({ [key]: max + 1 }, path, new RegExp(`^${path}: Too big: expected number to be <=${max}$`));
    assertNodeIssue({ [key]: min + 0.5 }, path, /expected int, received number/);
    assertNodeIssue({ [key]: String(max) }, path, /expected number, received string/);
    assertNodeIssue({ [key]: Number.NaN }, path, /expected number, received NaN/);
    assertNodeIssue({ [key]: Number.POSITIVE_INFINITY }, path, /./);
    assertNodeIssue({ [key]: null }, path, /expected number, received null/);
    assertNodeIssue({ [key]: true }, path, /expected number, received boolean/);
    assertNodeIssue({ [key]: [1] }, path, /expected number, received array/);
  }
  // The timeouts may not be 0; only the resume window may (resume off).
  assertNodeIssue({ loginTimeoutMs: 0 }, "sessions.loginTimeoutMs", />=1/);
  assert.equal(resolveSessionSettings(parseNodeConfig(node({ resumeWindowMs: 0 })).sessions).resumeWindowMs, 0);
});

test("scene and sceneLost.fallback follow the node-name rule", () => {
  for (const scene of ["a", "scene1", "eu.game-1_2", "x".repeat(64), "__proto__"]) {
    assert.equal(resolveSessionSettings(parseNodeConfig(node({ scene })).sessions).scene, scene);
    assert.deepEqual(resolveSessionSettings(parseNodeConfig(node({ sceneLost: { fallback: scene } })).sessions).sceneLost, { fallback: scene });
  }
  for (const scene of ["", "x".repeat(65), "has space", "é", "a/b", "a\n"]) {
    assertNodeIssue({ scene }, "sessions.scene", /^sessions\.scene: a name of 1 to 64 letters, digits, '_', '\.' or '-'$/);
    assertNodeIssue({ sceneLost: { fallback: scene } }, "sessions.sceneLost.fallback", /1 to 64 letters/);
  }
  assertNodeIssue({ scene: 5 }, "sessions.scene", /expected string, received number/);
  assertNodeIssue({ scene: null }, "sessions.scene", /expected string, received null/);
  assertNodeIssue({ scene: ["a"] }, "sessions.scene", /expected string, received array/);
});

test("duplicateLogin and sceneLost take only their documented values", () => {
  for (const duplicateLogin of ["kickOld", "refuseNew"] as const) {
    assert.equal(resolveSessionSettings(parseNodeConfig(node({ duplicateLogin })).sessions).duplicateLogin, duplicateLogin);
  }
  for (const bad of ["kicknew", "KickOld", "", 1, null, true]) assertNodeIssue({ duplicateLogin: bad }, "sessions.duplicateLogin", /"kickOld"\|"refuseNew"/);

  assert.equal(resolveSessionSettings(parseNodeConfig(node({ sceneLost: "kick" })).sessions).sceneLost, "kick");
  const rule = /^sessions\.sceneLost: expected "kick" or \{ "fallback": "<scene>" \}, received /;
  assertNodeIssue({ sceneLost: "Kick" }, "sessions.sceneLost", /received "Kick"$/);
  assertNodeIssue({ sceneLost: "fallback" }, "sessions.sceneLost", rule);
  assertNodeIssue({ sceneLost: 0 }, "sessions.sceneLost", /received 0$/);
  assertNodeIssue({ sceneLost: true }, "sessions.sceneLost", /received true$/);
  assertNodeIssue({ sceneLost: null }, "sessions.sceneLost", /received null$/);
  assertNodeIssue({ sceneLost: ["kick"] }, "sessions.sceneLost", /received array$/);
  // Inside the object form, problems are named by their own path.
  assertNodeIssue({ sceneLost: {} }, "sessions.sceneLost.fallback", /expected string, received undefined/);
  assertNodeIssue({ sceneLost: { fallback: 5 } }, "sessions.sceneLost.fallback", /expected string, received number/);
  assertNodeIssue({ sceneLost: { fallback: "lobby", after: 10 } }, "sessions.sceneLost", /^sessions\.sceneLost: unknown key\(s\) "after"$/);
});

test("sessions itself: true or an object; unknown keys named; every problem reported", () => {
  const rule = /^sessions: expected true or an object of session settings, received /;
  for (const [value, shown] of [
    [false, "false"],
    ["yes", '"yes"'],
    [1, "1"],
    [null, "null"],
    [[], "array"],
    [[{ scene: "a" }], "array"],
  ] as const) {
    assertNodeIssue(value, "sessions", rule);
    assertNodeIssue(value, "sessions", new RegExp(`received ${shown.replace(/[[\]]/g, "\\$&")}$`));
  }
  assertNodeIssue({ replay: 1 }, "sessions", /^sessions: unknown key\(s\) "replay"$/);
  assertNodeIssue({ maxSession: 1, scenes: "a" }, "sessions", /"maxSession", "scenes"/);
  // `log` and `limits` belong to the node, not to sessions.
  assertNodeIssue({ limits: {} }, "sessions", /"limits"/);
  // Several problems at once, each under its own path, beside the node's own.
  const issues = issuesFrom(() => parseNodeConfig({ name: "gw", tcp: [{ port: -1 }], sessions: { replayMessages: 65_537, scene: "", bogus: 1, sceneLost: { fallback: 1 } } }));
  assert.deepEqual(
    issues.map((i) => i.split(": ")[0]),
    ["tcp[0].port", "sessions.scene", "sessions.replayMessages", "sessions.sceneLost.fallback", "sessions"],
  );
  assert.ok(issues.includes("sessions.replayMessages: Too big: expected number to be <=65536"));
});

test("hostile sessions input gives a ConfigError in bounded time, and pollutes nothing", () => {
  const started = Date.now();
  // A 10 MB scene: refused by the name rule, and not echoed in the message.
  const huge = "s".repeat(10 * 1024 * 1024);
  const [sceneIssue = ""] = nodeIssues({ scene: huge });
  assert.equal(sceneIssue, "sessions.scene: a name of 1 to 64 letters, digits, '_', '.' or '-'");
  assertNodeIssue({ sceneLost: { fallback: huge } }, "sessions.sceneLost.fallback", /1 to 64 letters/);
  const [lostIssue = ""] = nodeIssues({ sceneLost: huge });
  assert.ok(lostIssue.startsWith("sessions.sceneLost: expected") && lostIssue.length < 200, `${lostIssue.length} chars`);
  const [hugeKey = ""] = nodeIssues({ [huge]: 1 });
  assert.ok(hugeKey.startsWith("sessions: unknown key(s)"));
  const [clusterScene = ""] = clusterIssues(cluster({ scene: huge }));
  assert.ok(clusterScene.startsWith("servers.net.sessions.scene: a name of") && clusterScene.length < 200);

  // Deeply nested junk where an object, a number or a name is expected.
  let deep: unknown = 1;
  for (let i = 0; i < 10_000; i++) deep = { a: deep, b: [deep] };
  assertNodeIssue(deep, "sessions", /unknown key\(s\) "a", "b"$/);
  assertNodeIssue({ replayBytes: deep }, "sessions.replayBytes", /expected number, received object/);
  assertNodeIssue({ scene: deep }, "sessions.scene", /expected string, received object/);
  assert.deepEqual(nodeIssues({ sceneLost: deep }), ["sessions.sceneLost.fallback: Invalid input: expected string, received undefined", 'sessions.sceneLost: unknown key(s) "a", "b"']);
  let deepArray: unknown = [];
  for (let i = 0; i < 100_000; i++) deepArray = [deepArray];
  assertNodeIssue(deepArray, "sessions", /received array$/);
  assertNodeIssue({ sceneLost: deepArray }, "sessions.sceneLost", /received array$/);
  assertOne(clusterIssues(cluster(deep)), "servers.net.sessions", /unknown key\(s\) "a", "b"$/);

  // Objects that are not plain records, and functions.
  for (const value of [new Map([["scene", "a"]]), new Date(0), new (class Settings {})()]) assertNodeIssue(value, "sessions", /received an object that is not a plain \{ \.\.\. \}/);
  assertNodeIssue({ sceneLost: new Map([["fallback", "a"]]) }, "sessions.sceneLost", /not a plain/);
  // Without a prototype is still plain (a parser may build objects that way).
  const bare = Object.assign(Object.create(null) as Record<string, unknown>, { maxChannels: 2 });
  assert.equal(resolveSessionSettings(parseNodeConfig(node(bare)).sessions).maxChannels, 2);
  assertNodeIssue(() => ({}), "sessions", /received function$/);
  assertNodeIssue(Symbol("s"), "sessions", /received symbol$/);

  // "__proto__" and friends are unknown keys, never prototypes.
  assertNodeIssue(JSON.parse('{"__proto__":{"scene":"evil"}}'), "sessions", /^sessions: unknown key\(s\) "__proto__"$/);
  assert.deepEqual(issuesFrom(() => parseNodeConfig(JSON.parse('{"name":"gw","sessions":{"sceneLost":{"__proto__":{"fallback":"x"}}}}'))), [
    "sessions.sceneLost.fallback: Invalid input: expected string, received undefined",
    'sessions.sceneLost: unknown key(s) "__proto__"',
  ]);
  assertNodeIssue({ constructor: "x" }, "sessions", /"constructor"/);
  assertOne(clusterIssues(cluster(JSON.parse('{"__proto__":{"maxSessions":1}}'))), "servers.net.sessions", /"__proto__"/);
  assert.equal(({} as Record<string, unknown>).scene, undefined);
  assert.equal(({} as Record<string, unknown>).maxSessions, undefined);
  assert.equal(({} as Record<string, unknown>).fallback, undefined);

  assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
});

test("cluster: a server's sessions are resolved on the ClusterNode and copied into node.sessions", () => {
  const config = parseCluster(cluster(true));
  const net = nodeOf(config, "net");
  assert.deepEqual(net.sessions, DEFAULT_SESSION_SETTINGS);
  assert.equal(net.node.sessions, true);
  assert.deepEqual(parseNodeConfig(net.node), net.node, "the derived node config is a valid node config");
  for (const name of ["gate", "game1", "game2"]) {
    assert.equal(nodeOf(config, name).sessions, null);
    assert.equal(Object.hasOwn(nodeOf(config, name).node, "sessions"), false);
  }
  assert.deepEqual(config.notices, []);

  const settings = { scene: "game1", duplicateLogin: "refuseNew", resumeWindowMs: 0, maxSessions: 5000, sceneLost: { fallback: "game2" } } as const;
  const withSettings = nodeOf(parseCluster(cluster(settings)), "net");
  const resolved: SessionSettings = { ...DEFAULT_SESSION_SETTINGS, ...settings, sceneLost: { fallback: "game2" } };
  assert.deepEqual(withSettings.sessions, resolved);
  assert.deepEqual(withSettings.node.sessions, settings);
  assert.deepEqual(resolveSessionSettings(parseNodeConfig(withSettings.node).sessions), resolved);

  // A WebSocket-only gateway is a gateway too; a scene may be the gateway itself, or a root.
  const ws = nodeOf(parseCluster(cluster({ scene: "net", sceneLost: { fallback: "gate" } }, { wsport: 10002 })), "net");
  assert.deepEqual(ws.sessions?.scene, "net");
  assert.deepEqual(ws.node.ws, [{ port: 10002, host: "127.0.0.1", path: "/" }]);
  // Server names that are special in JavaScript are plain scene names.
  const special = parseCluster(JSON.parse('{"servers":{"__proto__":{},"net":{"netport":1,"sessions":{"scene":"__proto__"}}}}'));
  assert.equal(nodeOf(special, "net").sessions?.scene, "__proto__");
});

test("cluster: sessions need client ports, and their scenes must be servers", () => {
  const ports = /^servers\.game1\.sessions: sessions need client ports \(netport or wsport\), and this server has none$/;
  assertOne(clusterIssues({ servers: { game1: { sessions: true } } }), "servers.game1.sessions", ports);
  assertOne(clusterIssues({ servers: { game1: { rootport: 10000, webport: 10001, sessions: {} } } }), "servers.game1.sessions", ports);

  assertOne(clusterIssues(cluster({ scene: "game9" })), "servers.net.sessions.scene", /^servers\.net\.sessions\.scene: "game9" is not a server \(servers: gate, net, game1, game2\)$/);
  assertOne(clusterIssues(cluster({ sceneLost: { fallback: "lobby" } })), "servers.net.sessions.sceneLost.fallback", /"lobby" is not a server/);
  for (const scene of ["toString", "__proto__", "constructor", "GAME1"]) {
    assertOne(clusterIssues(cluster({ scene })), "servers.net.sessions.scene", new RegExp(`"${scene}" is not a server`));
  }
  // A scene that breaks the name rule is reported once, by the rule.
  assertOne(clusterIssues(cluster({ scene: "no such" })), "servers.net.sessions.scene", /1 to 64 letters/);
  // Every problem at once, under the server's path; a server key that is not a word is bracketed.
  const issues = clusterIssues({
    servers: {
      "eu.gw": { sessions: { scene: "nowhere", sceneLost: { fallback: "gone" }, maxChannels: 0 } },
      net: { netport: 1, sessions: { replayMessages: 65_537, bogus: true } },
    },
  });
  assert.deepEqual(issues, [
    'servers["eu.gw"].sessions.maxChannels: Too small: expected number to be >=1',
    "servers.net.sessions.replayMessages: Too big: expected number to be <=65536",
    'servers.net.sessions: unknown key(s) "bogus"',
  ]);
  const later = clusterIssues({ servers: { "eu.gw": { sessions: { scene: "nowhere", sceneLost: { fallback: "gone" } } } } });
  assert.deepEqual(later, [
    'servers["eu.gw"].sessions: sessions need client ports (netport or wsport), and this server has none',
    'servers["eu.gw"].sessions.scene: "nowhere" is not a server (servers: eu.gw)',
    'servers["eu.gw"].sessions.sceneLost.fallback: "gone" is not a server (servers: eu.gw)',
  ]);
  assertOne(clusterIssues(cluster(false)), "servers.net.sessions", /expected true or an object of session settings, received false$/);
});

test("defineConfig types a server's sessions", () => {
  const config = defineConfig({
    servers: {
      gate: { rootport: 10000 },
      net: { netport: 10001, remoteport: [{ rootname: "gate" }], sessions: { scene: "game1", duplicateLogin: "refuseNew", sceneLost: { fallback: "game1" } } },
      ws: { wsport: 10002, remoteport: [{ rootname: "gate" }], sessions: true },
      game1: { remoteport: [{ rootname: "gate" }] },
    },
  });
  const parsed = parseCluster(config);
  assert.equal(nodeOf(parsed, "net").sessions?.duplicateLogin, "refuseNew");
  assert.deepEqual(nodeOf(parsed, "ws").sessions, DEFAULT_SESSION_SETTINGS);
});
