/**
 * Cluster config: Firefly's config.json accepted unchanged (the seed-001 demo and Diablo-World's
 * config, byte for byte), glowfly's additions normalized, every validation error naming its key
 * path, defineConfig files loaded, hostile input refused in bounded time.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  ALL_COMMANDS,
  configKind,
  ConfigError,
  DEFAULT_RESTART,
  defineConfig,
  dottedModuleCandidates,
  isDottedModuleName,
  loadClusterConfig,
  loadConfig,
  parseClusterConfig,
  parseNodeConfig,
  type ClusterConfig,
  type ClusterConfigInput,
  type ParseClusterOptions,
} from "../../src/index.ts";

const CONFIG_INDEX = join(dirname(fileURLToPath(import.meta.url)), "../../src/config/index.ts");

/** The demo config of seeds/001, exactly as published (note the duplicate "name" key in net). */
const SEED_001 = `{
"master":{"rootport":9999,"webport":9998},
"servers":{
"gate":{"name":"gate", "rootport":10000, "app":"app.gateserver"},
"net":{"name":"net", "netport":10001, "name":"net", "remoteport":[{"rootport":10000, "rootname":"gate"}], "app":"app.netserver"},
"game1":{"name":"game1", "remoteport":[{"rootport":10000, "rootname":"gate"}], "app":"app.game1server"}
}
}
`;

/** 9miao/Diablo-World server/anheisg/config.json, exactly (game2 logs to game1.log, as published). */
const DIABLO_WORLD = `{
"master":{"rootport":9999,"webport":9998},
"servers":{
"gate":{"rootport":10000,"name":"gate","db":true,"app":"app.gateserver","log":"app/logs/gate.log"},
"dbfront":{"name":"dbfront","db":true,"mem":true,"app":"app.dbfrontserver","log":"app/logs/dbfront.log"},
"net":{"netport":11009,"name":"net","remoteport":[{"rootport":10000,"rootname":"gate"}],"app":"app.netserver","log":"app/logs/net.log"},
"game1":{"remoteport":[{"rootport":10000,"rootname":"gate"}],
         "name":"game1","db":true,"mem":true,"app":"app.gameserver","reload":"app.game.doreload","log":"app/logs/game1.log"},
"game2":{"remoteport":[{"rootport":10000,"rootname":"gate"}],
         "name":"game2","db":true,"mem":true,"app":"app.gameserver","reload":"app.game.doreload","log":"app/logs/game1.log"}
},
"db":{
"host":"localhost",
"user":"root",
"passwd":"111",
"port":3306,
"db":"anheisg",
"charset":"utf8"
},
"memcached":{
"urls":["127.0.0.1:11211"],
"hostname":"anheisg"
}
}
`;

/** A temp directory with helpers to write files into it; removed after the test. */
async function tempDir(t: { after: (fn: () => Promise<void>) => void }) {
  const dir = await mkdtemp(join(tmpdir(), "glowfly-cluster-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const write = async (name: string, text = "export default () => {};\n") => {
    const path = join(dir, name);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, text);
    return path;
  };
  return { dir, write };
}

const NO_FILES: ParseClusterOptions = { checkFiles: false, source: "cluster.json", baseDir: "/srv/game" };

function parse(value: unknown, options: ParseClusterOptions = NO_FILES): ClusterConfig {
  return parseClusterConfig(value, options);
}

/** Parse `value`, expect a ConfigError, and return its issue lines. */
function issuesOf(value: unknown, options: ParseClusterOptions = NO_FILES): readonly string[] {
  let caught: unknown;
  try {
    parseClusterConfig(value, options);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${caught === undefined ? "success" : caught instanceof Error ? caught.stack : typeof caught}`);
  assert.equal(caught.source, options.source ?? "(inline)");
  assert.ok(caught.issues.length > 0);
  assert.ok(caught.message.endsWith(caught.issues.join("\n  ")), "the message lists every issue");
  return caught.issues;
}

/** Assert exactly one issue, at `path`, matching `expect`. */
function assertIssue(value: unknown, path: string, expect: RegExp, options?: ParseClusterOptions): void {
  const issues = issuesOf(value, options);
  assert.equal(issues.length, 1, `one issue expected, got:\n${issues.join("\n")}`);
  const [issue = ""] = issues;
  assert.ok(issue.startsWith(`${path}: `), `issue "${issue}" should name ${path}`);
  assert.match(issue, expect);
}

/** A small valid cluster to vary: gate (root) with net and game1 linked to it. */
function demo(): { master: Record<string, unknown>; servers: Record<string, Record<string, unknown>> } & Record<string, unknown> {
  return {
    master: { rootport: 9999, webport: 9998 },
    servers: {
      gate: { rootport: 10000 },
      net: { netport: 10001, remoteport: [{ rootname: "gate", rootport: 10000 }] },
      game1: { remoteport: [{ rootname: "gate", rootport: 10000 }] },
    },
  };
}

function nodeOf(config: ClusterConfig, name: string) {
  const node = config.nodes.get(name);
  assert.ok(node, `node ${name}`);
  return node;
}

test("the seed-001 Firefly demo config.json loads unchanged", async (t) => {
  const { dir, write } = await tempDir(t);
  for (const app of ["gateserver", "netserver", "game1server"]) await write(`app/${app}.ts`);
  const path = await write("config.json", SEED_001);

  const config = await loadClusterConfig(path);
  assert.equal(config.source, path);
  assert.equal(config.baseDir, dir);
  assert.equal(config.master.rootport, 9999);
  assert.equal(config.master.webport, 9998);
  assert.deepEqual(config.master.registry, { host: "127.0.0.1", port: 9999 });
  assert.deepEqual(
    config.master.listeners.map((l) => [l.role, l.host, l.port, l.key]),
    [
      ["root", "127.0.0.1", 9999, "master.rootport"],
      ["web", "127.0.0.1", 9998, "master.webport"],
    ],
  );
  assert.deepEqual(config.master.restart, DEFAULT_RESTART);
  assert.equal(config.master.tokenFile, join(dir, ".glowfly/admin-token"));

  assert.deepEqual([...config.nodes.keys()], ["gate", "net", "game1"]);
  const gate = nodeOf(config, "gate");
  const net = nodeOf(config, "net");
  const game1 = nodeOf(config, "game1");
  assert.deepEqual(gate.roles, ["root"]);
  assert.deepEqual(net.roles, ["net", "remote"]);
  assert.deepEqual(game1.roles, ["remote"]);
  assert.deepEqual(gate.listeners, [{ role: "root", host: "127.0.0.1", port: 10000, key: "servers.gate.rootport" }]);
  assert.deepEqual(net.listeners, [{ role: "net", host: "127.0.0.1", port: 10001, key: "servers.net.netport" }]);
  assert.deepEqual(gate.links, []);
  assert.deepEqual(net.links, [{ rootName: "gate", host: "127.0.0.1", port: 10000 }]);
  assert.deepEqual(game1.links, [{ rootName: "gate", host: "127.0.0.1", port: 10000 }]);
  // Firefly's dotted app names resolve to TypeScript modules next to the config file.
  assert.deepEqual(gate.apps, [join(dir, "app/gateserver.ts")]);
  assert.deepEqual(net.apps, [join(dir, "app/netserver.ts")]);
  assert.deepEqual(game1.apps, [join(dir, "app/game1server.ts")]);

  // Roots start first, and stop last.
  assert.deepEqual(config.startOrder, ["gate", "net", "game1"]);
  assert.deepEqual(config.stopOrder, ["game1", "net", "gate"]);

  // The net node's client port speaks Firefly's frame by default, so Firefly clients work unchanged.
  assert.deepEqual(net.node, { name: "net", app: [join(dir, "app/netserver.ts")], tcp: [{ port: 10001, host: "127.0.0.1", frame: "firefly" }] });
  assert.deepEqual(gate.node, { name: "gate", app: [join(dir, "app/gateserver.ts")] });
  for (const node of config.nodes.values()) assert.deepEqual(parseNodeConfig(node.node), node.node, "the derived node config is a valid node config");
  assert.deepEqual(config.notices, []);
  assert.equal(config.db, null);
  assert.equal(config.cache, null);
});

test("Diablo-World's config.json (db, mem, reload, log, top-level db and memcached) loads with notices", async (t) => {
  const { dir, write } = await tempDir(t);
  for (const app of ["gateserver", "dbfrontserver", "netserver", "gameserver", "game/doreload"]) await write(`app/${app}.ts`);
  const path = await write("config.json", DIABLO_WORLD);

  const config = await loadClusterConfig(path);
  assert.deepEqual(config.startOrder, ["gate", "dbfront", "net", "game1", "game2"]);
  assert.deepEqual(config.stopOrder, ["game2", "game1", "net", "dbfront", "gate"]);
  const roles = Object.fromEntries([...config.nodes.values()].map((n) => [n.name, n.roles]));
  assert.deepEqual(roles, {
    gate: ["root", "db"],
    dbfront: ["db", "cache"],
    net: ["net", "remote"],
    game1: ["remote", "db", "cache"],
    game2: ["remote", "db", "cache"],
  });
  const game1 = nodeOf(config, "game1");
  assert.deepEqual(game1.apps, [join(dir, "app/gameserver.ts")]);
  assert.equal(game1.reload, join(dir, "app/game/doreload.ts"));
  assert.deepEqual(game1.log, { file: join(dir, "app/logs/game1.log"), level: "info" });
  assert.equal(nodeOf(config, "net").node.tcp?.[0]?.port, 11009);
  assert.equal(nodeOf(config, "dbfront").links.length, 0);

  assert.equal(config.db?.form, "flat");
  assert.deepEqual(config.db.pools.get("default"), { host: "localhost", user: "root", passwd: "111", port: 3306, db: "anheisg", charset: "utf8" });
  assert.deepEqual(config.cache, { urls: ["127.0.0.1:11211"], hostname: "anheisg" });

  const notices = config.notices;
  const has = (re: RegExp) => assert.ok(notices.some((n) => re.test(n)), `a notice matching ${re}:\n${notices.join("\n")}`);
  has(/^db: opened by gate, dbfront, game1, game2 \(db: true\), each with its own entity cache and journal$/);
  has(/^memcached: accepted, not used; entities are shared through ownership instead$/);
  has(/^ownership: several nodes share the database; entities have one owner at a time through the master/);
  assert.equal(nodeOf(config, "game1").node.data?.ownership, "master");
  for (const name of ["dbfront", "game1", "game2"]) has(new RegExp(`^servers\\.${name}\\.mem: accepted; the entity cache is in the process`));
  // Servers with db: true get the database, and a journal of their own next to the config.
  assert.deepEqual(nodeOf(config, "game1").node.db, { host: "localhost", user: "root", passwd: "111", port: 3306, db: "anheisg", charset: "utf8" });
  assert.match(String(nodeOf(config, "game1").node.data?.journal), /data\/journal\/game1$/);
  assert.equal(nodeOf(config, "net").node.db, undefined);
  has(/^servers\.game2\.log: the same file as servers\.game1\.log/);
  // No passwords in anything logged.
  assert.ok(!notices.join("\n").includes("111"));
  assert.equal(notices.length, 3 + 3 + 1, notices.join("\n"));
});

test("app and reload: a dotted name resolves relative to the config file; a path is taken as written", async (t) => {
  const table: Array<[string, boolean]> = [
    ["app.gateserver", true],
    ["gate", true],
    ["app.game.doreload", true],
    ["_private.mod_2", true],
    ["./app/gate.ts", false],
    ["app/gate.ts", false],
    ["app.ts", false],
    ["gate.mjs", false],
    ["../shared/app.js", false],
    ["/abs/app.ts", false],
    ["C:\\game\\app.ts", false],
    ["app..gate", false],
    ["1app.gate", false],
  ];
  for (const [spec, dotted] of table) assert.equal(isDottedModuleName(spec), dotted, spec);
  assert.deepEqual(dottedModuleCandidates("app.gateserver"), ["app/gateserver.ts", "app/gateserver.js", "app/gateserver/index.ts", "app/gateserver/index.js"]);

  const { dir, write } = await tempDir(t);
  await write("app/both.ts");
  await write("app/both.js");
  await write("app/onlyjs.js");
  await write("app/pkg/index.ts");
  await write("app/jspkg/index.js");
  await write("lib/gate.ts");
  await mkdir(join(dir, "app/dironly"), { recursive: true });
  const options = { source: "c.json", baseDir: dir };
  const appOf = (app: unknown) => nodeOf(parse({ servers: { a: { app } } }, options), "a").apps;

  assert.deepEqual(appOf("app.both"), [join(dir, "app/both.ts")], ".ts wins over .js");
  assert.deepEqual(appOf("app.onlyjs"), [join(dir, "app/onlyjs.js")]);
  assert.deepEqual(appOf("app.pkg"), [join(dir, "app/pkg/index.ts")], "a package is its index");
  assert.deepEqual(appOf("app.jspkg"), [join(dir, "app/jspkg/index.js")]);
  assert.deepEqual(appOf("./lib/gate.ts"), [join(dir, "lib/gate.ts")]);
  assert.deepEqual(appOf(["app.both", "./lib/gate.ts"]), [join(dir, "app/both.ts"), join(dir, "lib/gate.ts")]);
  assert.equal(nodeOf(parse({ servers: { a: { reload: "app.onlyjs" } } }, options), "a").reload, join(dir, "app/onlyjs.js"));

  // A module that is not a file is an error naming the key and what was tried.
  assertIssue({ servers: { a: { app: "app.missing" } } }, "servers.a.app", /"app\.missing" not found: .*app\/missing\.ts, app\/missing\.js, app\/missing\/index\.ts, app\/missing\/index\.js/, options);
  assertIssue({ servers: { a: { app: "app.dironly" } } }, "servers.a.app", /not found/, options);
  assertIssue({ servers: { a: { app: ["app.both", "./nope.ts"] } } }, "servers.a.app[1]", /"\.\/nope\.ts" not found: no file .*nope\.ts/, options);
  assertIssue({ servers: { a: { reload: "app.game.doreload" } } }, "servers.a.reload", /app\/game\/doreload\.ts/, options);
  // Without file checks, a dotted name is its .ts candidate.
  assert.deepEqual(nodeOf(parse({ servers: { a: { app: "app.gateserver" } } }), "a").apps, ["/srv/game/app/gateserver.ts"]);
});

test("glowfly's additions: wsport, host, frame, roothost, limits, codec, timeouts, forward, master settings", () => {
  const input = defineConfig({
    master: {
      rootport: 7000,
      webport: 7001,
      host: "0.0.0.0",
      roothost: "10.0.0.1",
      log: { file: "logs/master.log", level: "warn" },
      restart: { maxCrashes: 3, windowMs: 10_000, initialDelayMs: 100, maxDelayMs: 2000 },
      stopDeadlineMs: 20_000,
      tokenFile: "/etc/glowfly/token",
    },
    servers: {
      gate: { rootport: 7100, host: "0.0.0.0", timeouts: { rpcMs: 2500 } },
      chat: { rootport: 7200, host: "10.0.0.2", netport: 7201, frame: "native", codec: "msgpack" },
      net: {
        netport: 7300,
        wsport: 7301,
        wspath: "/game",
        firefly: { magic: [78, 37, 38, 48], protocolVersion: 9 },
        remoteport: [{ rootname: "gate" }, { rootname: "chat", rootport: 7200, roothost: "chat.internal" }],
        limits: { maxInFlight: 8 },
        maxConnections: 5000,
        stopDeadlineMs: 3000,
        log: { level: "debug" },
        forward: { to: "gate", commands: [[200, 399], 100, [150, 210], 400] },
        app: ["./net.ts", "./more.ts"],
      },
    },
  });
  const typed: ClusterConfigInput = input;
  const config = parse(typed);
  assert.deepEqual(config.master, {
    host: "0.0.0.0",
    webport: 7001,
    rootport: 7000,
    roothost: "10.0.0.1",
    registry: { host: "10.0.0.1", port: 7000 },
    listeners: [
      { role: "root", host: "10.0.0.1", port: 7000, key: "master.rootport" },
      { role: "web", host: "0.0.0.0", port: 7001, key: "master.webport" },
    ],
    log: { file: "/srv/game/logs/master.log", level: "warn" },
    restart: { maxCrashes: 3, windowMs: 10_000, initialDelayMs: 100, maxDelayMs: 2000 },
    stopDeadlineMs: 20_000,
    tokenFile: "/etc/glowfly/token",
  });
  const net = nodeOf(config, "net");
  assert.deepEqual(net.roles, ["net", "ws", "remote"]);
  // A link's host defaults to the root's host; a wildcard bind host is reached on loopback.
  assert.deepEqual(net.links, [
    { rootName: "gate", host: "127.0.0.1", port: 7100 },
    { rootName: "chat", host: "chat.internal", port: 7200 },
  ]);
  assert.deepEqual(net.forward, { to: "gate", ranges: [[100, 100], [150, 400]] });
  assert.deepEqual(net.timeouts, { rpcMs: 10_000, connectMs: 5_000 });
  assert.deepEqual(nodeOf(config, "gate").timeouts, { rpcMs: 2500, connectMs: 5_000 });
  assert.deepEqual(net.node, {
    name: "net",
    app: ["/srv/game/net.ts", "/srv/game/more.ts"],
    tcp: [{ port: 7300, host: "127.0.0.1", frame: "firefly", firefly: { magic: [78, 37, 38, 48], protocolVersion: 9 } }],
    ws: [{ port: 7301, host: "127.0.0.1", path: "/game" }],
    limits: { maxInFlight: 8 },
    maxConnections: 5000,
    stopDeadlineMs: 3000,
    log: { level: "debug" },
  });
  assert.deepEqual(parseNodeConfig(net.node), net.node);
  const chat = nodeOf(config, "chat");
  assert.equal(chat.codec, "msgpack");
  assert.deepEqual(chat.node, { name: "chat", codec: "msgpack", tcp: [{ port: 7201, host: "10.0.0.2", frame: "native" }] });
  assert.deepEqual(config.startOrder, ["gate", "chat", "net"]);
  // Defaults when the master block is absent.
  const bare = parse({ servers: { solo: { netport: 4000, app: "./solo.ts" } } });
  assert.deepEqual(bare.master.listeners, [{ role: "root", host: "127.0.0.1", port: 0, key: "master.rootport" }]);
  assert.equal(bare.master.webport, null);
  assert.equal(bare.master.stopDeadlineMs, 10_000);
  assert.equal(bare.master.tokenFile, "/srv/game/.glowfly/admin-token");
  assert.deepEqual(bare.startOrder, ["solo"]);
});

test("forward: \"all\", ids and ranges, merged; the root it goes to must be clear", () => {
  const withForward = (forward: unknown, extra: Record<string, unknown> = {}) => ({
    servers: { gate: { rootport: 1 }, chat: { rootport: 2 }, net: { netport: 3, remoteport: [{ rootname: "gate" }], forward, ...extra } },
  });
  const forwardOf = (forward: unknown) => nodeOf(parse(withForward(forward)), "net").forward;
  assert.deepEqual(forwardOf("all"), { to: "gate", ranges: [ALL_COMMANDS] });
  assert.deepEqual(forwardOf([[200, 399]]), { to: "gate", ranges: [[200, 399]] });
  assert.deepEqual(forwardOf([5, 3, 4, [10, 20], [21, 30], [0, 0]]), { to: "gate", ranges: [[0, 0], [3, 5], [10, 30]] });
  assert.deepEqual(forwardOf([[0, 4294967295]]), { to: "gate", ranges: [ALL_COMMANDS] });
  assert.deepEqual(forwardOf({ to: "gate", commands: "all" }), { to: "gate", ranges: [ALL_COMMANDS] });
  assert.equal(forwardOf([]), null, "an empty list forwards nothing");

  assertIssue(withForward([[399, 200]]), "servers.net.forward[0]", /starts at 399, after its end 200/);
  assertIssue(withForward([100, [1, 2, 3]]), "servers.net.forward[1]", /expected a command id or a \[first, last\] range/);
  assertIssue(withForward([-1]), "servers.net.forward[0]", /integers 0 to 4294967295/);
  assertIssue(withForward([2 ** 32]), "servers.net.forward[0]", /integers 0 to 4294967295/);
  assertIssue(withForward([1.5]), "servers.net.forward[0]", /command id/);
  assertIssue(withForward("some"), "servers.net.forward", /expected "all", or a list of command ids and \[first, last\] ranges.*received "some"/);
  assertIssue(withForward(7), "servers.net.forward", /received number/);
  assertIssue(withForward({ to: "gate" }), "servers.net.forward.commands", /required/);
  assertIssue(withForward({ to: "gate", commands: [[3, 1]] }), "servers.net.forward.commands[0]", /starts at 3/);
  assertIssue(withForward({ to: "chat", commands: "all" }), "servers.net.forward.to", /"chat" is not in this server's remoteport \(gate\)/);
  assertIssue(withForward({ to: "gate", commands: "all", via: 1 }), "servers.net.forward", /unknown key\(s\) "via"/);
  assertIssue(withForward("all", { remoteport: [] }), "servers.net.forward", /has no remoteport, so there is no root to forward to/);
  assertIssue(
    withForward("all", { remoteport: [{ rootname: "gate" }, { rootname: "chat" }] }),
    "servers.net.forward",
    /links to 2 roots \(gate, chat\); name one: \{ "to": "gate"/,
  );
  assertIssue(withForward("all", { netport: undefined }), "servers.net.forward", /no netport or wsport/);
  // Many bad entries are reported, but not one line each.
  const issues = issuesOf(withForward(Array.from({ length: 1000 }, () => "x")));
  assert.equal(issues.length, 11);
  assert.match(issues[10] ?? "", /^servers\.net\.forward: 990 more bad entries$/);
});

test("wrong types name the key path and what was expected", () => {
  const d = demo();
  const cases: Array<[(c: ReturnType<typeof demo>) => void, string, RegExp]> = [
    [(c) => (c.servers.net!.netport = "10001"), "servers.net.netport", /expected number, received string/],
    [(c) => (c.servers.net!.netport = 70000), "servers.net.netport", /<=65535/],
    [(c) => (c.servers.gate!.rootport = 1.5), "servers.gate.rootport", /expected int/],
    [(c) => (c.servers.net!.remoteport = { rootname: "gate" }), "servers.net.remoteport", /expected array/],
    [(c) => (c.servers.net!.remoteport = [{ rootname: 5 }]), "servers.net.remoteport[0].rootname", /expected string/],
    [(c) => (c.servers.net!.remoteport = [{}]), "servers.net.remoteport[0].rootname", /expected string, received undefined/],
    [(c) => (c.servers.net!.remoteport = [{ rootname: "gate", rootport: "10000" }]), "servers.net.remoteport[0].rootport", /expected number/],
    [(c) => (c.servers.game1!.db = "yes"), "servers.game1.db", /expected boolean/],
    [(c) => (c.servers.game1!.mem = 1), "servers.game1.mem", /expected boolean/],
    [(c) => (c.servers.game1!.app = 3), "servers.game1.app", /expected a module path or a list of module paths/],
    [(c) => (c.servers.game1!.app = ""), "servers.game1.app", /./],
    [(c) => (c.servers.game1!.reload = ["a"]), "servers.game1.reload", /expected string/],
    [(c) => (c.servers.game1!.log = 3), "servers.game1.log", /expected a log file path or \{ file, level \}, received number/],
    [(c) => (c.servers.game1!.log = ""), "servers.game1.log", /expected a file path/],
    [(c) => (c.servers.game1!.log = { level: "trace" }), "servers.game1.log.level", /"debug"/],
    [(c) => (c.servers.game1!.cpu = -1), "servers.game1.cpu", />=0/],
    [(c) => (c.servers.net!.frame = "websocket"), "servers.net.frame", /"firefly"\|"native"/],
    [(c) => (c.servers.net!.wsport = true), "servers.net.wsport", /expected number/],
    [(c) => (c.servers.net!.wspath = "game"), "servers.net.wspath", /start with "\/"/],
    [(c) => (c.servers.net!.host = ""), "servers.net.host", />=1 characters/],
    [(c) => (c.servers.net!.codec = "xml"), "servers.net.codec", /"raw"\|"json"\|"msgpack"/],
    [(c) => (c.servers.net!.timeouts = { rpcMs: 0 }), "servers.net.timeouts.rpcMs", />0/],
    [(c) => (c.servers.net!.timeouts = { connectMs: 2 ** 31 }), "servers.net.timeouts.connectMs", /<=2147483647/],
    [(c) => (c.servers.net!.limits = { maxInFlight: "8" }), "servers.net.limits.maxInFlight", /expected number/],
    [(c) => (c.servers.net!.firefly = { magic: [1, 2, 3] }), "servers.net.firefly.magic", />=4 items/],
    [(c) => (c.servers.net!.stopDeadlineMs = -5), "servers.net.stopDeadlineMs", />0/],
    [(c) => (c.servers.net!.maxConnections = 0), "servers.net.maxConnections", />0/],
    [(c) => (c.servers.gate = null as never), "servers.gate", /expected object, received null/],
    [(c) => (c.servers.gate = [] as never), "servers.gate", /expected object, received array/],
    [(c) => (c.master.rootport = "9999"), "master.rootport", /expected number/],
    [(c) => (c.master.webport = -1), "master.webport", />=0/],
    [(c) => (c.master.roothost = 1), "master.roothost", /expected string/],
    [(c) => (c.master.restart = { maxCrashes: 0 }), "master.restart.maxCrashes", />=1/],
    [(c) => (c.master.restart = { initialDelayMs: 5000, maxDelayMs: 1000 }), "master.restart.maxDelayMs", /at least initialDelayMs \(5000\)/],
    [(c) => (c.master.stopDeadlineMs = "soon"), "master.stopDeadlineMs", /expected number/],
    [(c) => (c.master.tokenFile = 1), "master.tokenFile", /expected string/],
    [(c) => (c.master.log = ["x"]), "master.log", /received array/],
    [(c) => (c.master = 5 as never), "master", /expected object, received number/],
    [(c) => (c.db = "mysql://x"), "db", /no database name in mysql:\/\/x/],
    [(c) => (c.db = 42), "db", /expected an object \(one pool, or named pools\), received number/],
    [(c) => (c.db = { host: "h", port: "3306" }), "db.port", /expected number/],
    [(c) => (c.db = { main: { host: 1 } }), "db.main.host", /expected string/],
    [(c) => (c.db = { main: "x" }), "db.main", /expected a pool object, received string/],
    [(c) => (c.memcached = { urls: "127.0.0.1:11211" }), "memcached.urls", /expected array/],
    [(c) => (c.memcached = { pubport: 99999 }), "memcached.pubport", /<=65535/],
    [(c) => (c.servers.net!.limits = { heartbeatMs: 100, idleTimeoutMs: 100 }), "servers.net.limits.idleTimeoutMs", /greater than heartbeatMs/],
  ];
  for (const [mutate, path, expect] of cases) {
    const config = demo();
    mutate(config);
    assertIssue(config, path, expect);
  }
  // The unchanged base is valid, and several problems are all reported.
  assert.doesNotThrow(() => parse(d));
  const c = demo();
  c.servers.net!.netport = "x";
  c.servers.gate!.rootport = -1;
  c.master.webport = "y";
  assert.deepEqual(
    issuesOf(c).map((i) => i.split(": ")[0]),
    ["master.webport", "servers.gate.rootport", "servers.net.netport"],
  );
});

test("remoteport must name a server that has a rootport, with that rootport", () => {
  const c1 = demo();
  c1.servers.net!.remoteport = [{ rootname: "gat", rootport: 10000 }];
  assertIssue(c1, "servers.net.remoteport[0].rootname", /"gat" is not a server \(servers: gate, net, game1\)/);

  const c2 = demo();
  c2.servers.game1!.remoteport = [{ rootname: "net", rootport: 10001 }];
  assertIssue(c2, "servers.game1.remoteport[0].rootname", /server "net" has no rootport, so nothing can link to it/);

  const c3 = demo();
  c3.servers.net!.remoteport = [{ rootname: "gate", rootport: 10001 }];
  assertIssue(c3, "servers.net.remoteport[0].rootport", /10001 differs from servers\.gate\.rootport \(10000\)/);

  const c4 = demo();
  c4.servers.net!.remoteport = [{ rootname: "gate" }, { rootname: "gate", rootport: 10000 }];
  assertIssue(c4, "servers.net.remoteport[1].rootname", /"gate" is already linked by remoteport\[0\]/);

  // The master is not a server: nodes reach it through master.rootport, not remoteport.
  const c5 = demo();
  c5.servers.net!.remoteport = [{ rootname: "master", rootport: 9999 }];
  assertIssue(c5, "servers.net.remoteport[0].rootname", /"master" is not a server/);

  // A root whose own entry is broken is reported once, under its own path.
  const c6 = demo();
  c6.servers.gate!.rootport = "10000";
  assertIssue(c6, "servers.gate.rootport", /expected number/);
});

test("a port is used once per host across every server and the master", () => {
  const clash = (mutate: (c: ReturnType<typeof demo>) => void, path: string, expect: RegExp) => {
    const c = demo();
    mutate(c);
    assertIssue(c, path, expect);
  };
  clash((c) => (c.servers.net!.netport = 10000), "servers.net.netport", /port 10000 on 127\.0\.0\.1 is already used by servers\.gate\.rootport/);
  clash((c) => (c.servers.gate!.webport = 9998), "servers.gate.webport", /already used by master\.webport/);
  clash((c) => (c.servers.net!.wsport = 9999), "servers.net.wsport", /already used by master\.rootport/);
  clash((c) => (c.servers.net!.wsport = 10001), "servers.net.wsport", /already used by servers\.net\.netport/);
  clash((c) => (c.servers.game1!.webport = 10001), "servers.game1.webport", /already used by servers\.net\.netport/);
  clash((c) => (c.master.webport = 9999), "master.webport", /already used by master\.rootport/);
  clash((c) => (c.servers.game1!.rootport = 10000), "servers.game1.rootport", /already used by servers\.gate\.rootport/);
  // "localhost" is 127.0.0.1, and a wildcard host clashes with every host, either way round.
  clash(
    (c) => Object.assign(c.servers.net!, { host: "localhost", netport: 10000 }),
    "servers.net.netport",
    /port 10000 on localhost \(127\.0\.0\.1\) is already used by servers\.gate\.rootport/,
  );
  clash((c) => Object.assign(c.servers.net!, { host: "0.0.0.0", netport: 10000 }), "servers.net.netport", /already used by servers\.gate\.rootport/);
  clash((c) => Object.assign(c.servers.gate!, { host: "::" }) && (c.servers.net!.netport = 10000), "servers.net.netport", /already used by servers\.gate\.rootport/);

  // Different hosts may share a port; port 0 (a free port) never clashes.
  const c = demo();
  Object.assign(c.servers.net!, { host: "10.0.0.2", netport: 10000 });
  assert.doesNotThrow(() => parse(c));
  const zeros = { master: { rootport: 0, webport: 0 }, servers: { a: { netport: 0, wsport: 0, rootport: 0, webport: 0 }, b: { netport: 0 } } };
  assert.doesNotThrow(() => parse(zeros));
  // Every clash is reported, each naming the first user of the port.
  const many = { servers: { a: { netport: 5000 }, b: { netport: 5000 }, c: { wsport: 5000 } } };
  assert.deepEqual(issuesOf(many), ["servers.b.netport: port 5000 on 127.0.0.1 is already used by servers.a.netport", "servers.c.wsport: port 5000 on 127.0.0.1 is already used by servers.a.netport"]);
});

test("a cycle of remoteport links is an error naming the cycle", () => {
  assertIssue(
    { servers: { a: { rootport: 1, remoteport: [{ rootname: "b" }] }, b: { rootport: 2, remoteport: [{ rootname: "a" }] } } },
    "servers.a.remoteport",
    /remoteport cycle: a -> b -> a$/,
  );
  assertIssue({ servers: { a: { rootport: 1, remoteport: [{ rootname: "a" }] } } }, "servers.a.remoteport", /cycle: a -> a$/);
  // The cycle is named from where the search entered it; a node leading into it is not part of it.
  assertIssue(
    {
      servers: {
        x: { remoteport: [{ rootname: "b" }] },
        a: { rootport: 1, remoteport: [{ rootname: "c" }] },
        b: { rootport: 2, remoteport: [{ rootname: "a" }] },
        c: { rootport: 3, remoteport: [{ rootname: "b" }] },
      },
    },
    "servers.b.remoteport",
    /cycle: b -> a -> c -> b$/,
  );
  // Two separate cycles are both reported.
  const issues = issuesOf({
    servers: {
      a: { rootport: 1, remoteport: [{ rootname: "b" }] },
      b: { rootport: 2, remoteport: [{ rootname: "a" }] },
      c: { rootport: 3, remoteport: [{ rootname: "d" }] },
      d: { rootport: 4, remoteport: [{ rootname: "c" }] },
    },
  });
  assert.deepEqual(issues, ["servers.a.remoteport: remoteport cycle: a -> b -> a", "servers.c.remoteport: remoteport cycle: c -> d -> c"]);
});

test("start order puts every root before its children, in config order otherwise; stop order is its reverse", () => {
  const config = parse({
    servers: {
      game: { remoteport: [{ rootname: "gate" }, { rootname: "chat" }] },
      net: { netport: 1, remoteport: [{ rootname: "gate" }] },
      gate: { rootport: 2, remoteport: [{ rootname: "world" }] },
      chat: { rootport: 3, netport: 4 },
      world: { rootport: 5 },
      tools: { app: "./tools.ts" },
    },
  });
  assert.deepEqual(config.startOrder, ["world", "gate", "chat", "game", "net", "tools"]);
  assert.deepEqual(config.stopOrder, ["tools", "net", "game", "chat", "gate", "world"]);
  const position = new Map(config.startOrder.map((n, i) => [n, i]));
  for (const node of config.nodes.values()) {
    for (const link of node.links) assert.ok(position.get(link.rootName)! < position.get(node.name)!, `${link.rootName} before ${node.name}`);
  }
});

test("unknown keys are errors naming their path", () => {
  const cases: Array<[unknown, string, RegExp]> = [
    [{ ...demo(), bogus: 1 }, "(top level)", /unknown key\(s\) "bogus"/],
    [{ ...demo(), master: { rootport: 1, webprot: 2 } }, "master", /unknown key\(s\) "webprot"/],
    [{ ...demo(), master: { restart: { maxCrash: 1 } } }, "master.restart", /"maxCrash"/],
    [{ servers: { a: { netport: 1, netprot: 2 } } }, "servers.a", /unknown key\(s\) "netprot"/],
    [{ servers: { a: { rootport: 1 }, b: { remoteport: [{ rootname: "a", host: "x" }] } } }, "servers.b.remoteport[0]", /unknown key\(s\) "host"/],
    [{ servers: { a: { timeouts: { rpc: 1 } } } }, "servers.a.timeouts", /"rpc"/],
    [{ servers: { a: { limits: { maxBody: 1 } } } }, "servers.a.limits", /"maxBody"/],
    [{ servers: { a: { netport: 1, firefly: { magik: [0, 0, 0, 0] } } } }, "servers.a.firefly", /"magik"/],
    [{ servers: { a: { log: { file: "a.log", rotate: true } } } }, "servers.a.log", /"rotate"/],
    [{ servers: { a: {} }, db: { host: "h", pasword: "x" } }, "db", /unknown key\(s\) "pasword"/],
    [{ servers: { a: {} }, db: { main: { host: "h", timeout: 5 } } }, "db.main", /"timeout"/],
    [{ servers: { a: {} }, memcached: { urls: [], namespace: "x" } }, "memcached", /"namespace"/],
    // The name of a node config is not a cluster key, and a node config's keys are not server keys.
    [{ ...demo(), name: "x" }, "(top level)", /"name"/],
    [{ servers: { a: { tcp: [{ port: 1 }] } } }, "servers.a", /"tcp"/],
  ];
  for (const [value, path, expect] of cases) assertIssue(value, path, expect);
  // Keys that are not plain words are quoted in the path.
  assertIssue({ servers: { "eu.game1": { netport: 1, "bad key": 1 } } }, 'servers["eu.game1"]', /unknown key\(s\) "bad key"/);
});

test("servers: required, non-empty, and each key a valid node name", () => {
  assertIssue({}, "servers", /required/);
  assertIssue({ master: { rootport: 1 } }, "servers", /required/);
  assertIssue({ servers: {} }, "servers", /at least one server/);
  assertIssue({ servers: [] }, "servers", /expected an object of servers .*received array/);
  assertIssue({ servers: "gate" }, "servers", /received string/);
  assertIssue({ servers: { "has space": {} } }, 'servers["has space"]', /node name: a name of 1 to 64 letters/);
  assertIssue({ servers: { "": {} } }, 'servers[""]', /node name/);
  assertIssue({ servers: { ["x".repeat(65)]: {} } }, `servers["${"x".repeat(64)}…"]`, /node name/);
  assertIssue({ servers: { "gate/1": {}, ok: {} } }, 'servers["gate/1"]', /node name/);
  // Every name the node config accepts is accepted.
  assert.doesNotThrow(() => parse({ servers: { "game-1.eu_west": {}, A9: {} } }));
});

test("notices: name mismatch, idle node, webport, cpu, db and mem without their blocks, stop deadlines", () => {
  const config = parse({
    servers: {
      gate: { name: "gateway", rootport: 1 },
      idle: {},
      web: { webport: 8080, cpu: 3, db: true, mem: true, app: "./web.ts" },
      slow: { netport: 2, stopDeadlineMs: 60_000 },
    },
  });
  assert.deepEqual(config.notices, [
    'servers.gate.name: "gateway" differs from the server\'s key; the node is named "gate" (the key), as in Firefly',
    "servers.idle: no ports, no remoteport and no app; the node will start and do nothing",
    'servers.web.webport: role "web" accepted and the port reserved; node HTTP sites are not built yet, nothing listens on it',
    "servers.web.db: no top-level db block; the node uses the embedded SQLite database data/glowfly.db",
    "servers.web.mem: accepted; the entity cache is in the process of every node with db: true, mem changes nothing",
    "servers.web.cpu: accepted and not applied; Node.js cannot set CPU affinity",
    "servers.slow.stopDeadlineMs: 60000 ms is not below master.stopDeadlineMs (10000); the master may kill the node before it has stopped",
  ]);
  assert.equal(nodeOf(config, "gate").name, "gate");
  assert.equal(nodeOf(config, "web").cpu, 3);
  assert.deepEqual(nodeOf(config, "web").roles, ["web", "db", "cache"]);
  // db: false and mem: false are no roles and no notices.
  assert.deepEqual(parse({ servers: { a: { netport: 1, db: false, mem: false } } }).notices, []);
});

test("keys that only apply to a port the server lacks are errors", () => {
  assertIssue({ servers: { a: { frame: "native" } } }, "servers.a.frame", /applies to the netport, and this server has none/);
  assertIssue({ servers: { a: { firefly: { protocolVersion: 9 } } } }, "servers.a.firefly", /applies to the netport/);
  assertIssue({ servers: { a: { netport: 1, frame: "native", firefly: { protocolVersion: 9 } } } }, "servers.a.firefly", /applies to frame "firefly"/);
  assertIssue({ servers: { a: { netport: 1, wspath: "/x" } } }, "servers.a.wspath", /applies to the wsport/);
});

test("db: Firefly's flat pool or G-Firefly's named pools", () => {
  const flat = parse({ servers: { a: {} }, db: { host: "h", user: "u", passwd: "p", port: 3306, db: "game", charset: "utf8", engine: "mysql" } });
  assert.equal(flat.db?.form, "flat");
  assert.deepEqual([...flat.db.pools.keys()], ["default"]);
  const pools = parse({ servers: { a: {} }, db: { default: { host: "h" }, master: { host: "m", port: 3307 } } });
  assert.equal(pools.db?.form, "pools");
  assert.deepEqual(Object.fromEntries(pools.db.pools), { default: { host: "h" }, master: { host: "m", port: 3307 } });
  assert.ok(pools.notices.includes('db: pools default, master; nodes with db: true use pool "default" (one pool per cluster)'), pools.notices.join("\n"));
  assert.ok(pools.notices.includes("db: accepted; no server has db: true, so no node opens it"));
  // ownership (glowfly) goes to every db: true server; with it, memcached is only noted.
  const owned = parse({ servers: { a: { db: true }, b: {} }, db: "sqlite:x.db", ownership: { redis: "redis://127.0.0.1:6379", ttlMs: 5000 }, memcached: { urls: ["h:1"] } });
  assert.deepEqual(owned.nodes.get("a")?.node.data?.ownership, { redis: "redis://127.0.0.1:6379", ttlMs: 5000 });
  assert.equal(owned.nodes.get("b")?.node.data, undefined);
  assert.ok(owned.notices.includes("memcached: accepted, not used; entities are shared through ownership instead"));
  // One db node with memcached: the notice points to ownership.
  const single = parse({ servers: { a: { db: true } }, db: "sqlite:x.db", memcached: { urls: ["h:1"] } });
  assert.ok(single.notices.some((n) => n.startsWith('memcached: accepted, not used; glowfly needs no cache server') && n.includes('"ownership": { "redis": "redis://host:6379" }')));
  assert.equal(single.nodes.get("a")?.node.data?.ownership, undefined);
  assert.throws(() => parse({ servers: { a: {} }, ownership: { redis: "http://x" } }), /ownership\.redis: expected a redis:\/\/ or rediss:\/\/ URL/);
  // Used by a server, a pool must be complete; glowfly's URL form works too.
  assert.throws(() => parse({ servers: { a: { db: true } }, db: { default: { host: "h" } } }), /db\.default\.db: expected the database name/);
  const url = parse({ servers: { a: { db: true }, b: {} }, db: "postgres://u@h/game" });
  assert.equal(url.nodes.get("a")?.node.db, "postgres://u@h/game");
  assert.equal(url.nodes.get("b")?.node.db, undefined);
  const sqlite = parse({ servers: { a: { db: true } }, db: { url: "sqlite:data/x.db", poolSize: 1 } });
  assert.match(JSON.stringify(sqlite.nodes.get("a")?.node.db), /"url":"sqlite:\/.*\/data\/x\.db","poolSize":1/);
  const empty = parse({ servers: { a: {} }, db: {}, memcached: {} });
  assert.equal(empty.db?.form, "flat");
  assert.deepEqual(empty.cache, {});
  // G-Firefly's memcached additions.
  assert.deepEqual(parse({ servers: { a: {} }, memcached: { urls: ["h:1"], pubhost: "127.0.0.1", pubport: 5000 } }).cache, { urls: ["h:1"], pubhost: "127.0.0.1", pubport: 5000 });
});

test("configKind tells a cluster file from a node file; loadConfig reads either", async (t) => {
  assert.equal(configKind(JSON.parse(SEED_001)), "cluster");
  assert.equal(configKind({ name: "echo", tcp: [] }), "node");
  assert.equal(configKind({ servers: {}, name: "x" }), "cluster");
  for (const v of [null, [], "x", 1, {}, { master: {} }]) assert.equal(configKind(v), null);

  const { write } = await tempDir(t);
  const nodePath = await write("node.json", JSON.stringify({ name: "echo", tcp: [{ port: 0 }] }));
  assert.deepEqual(await loadConfig(nodePath), { kind: "node", config: { name: "echo", tcp: [{ port: 0 }] } });
  await write("app/gateserver.ts");
  await write("app/netserver.ts");
  await write("app/game1server.ts");
  const clusterPath = await write("config.json", SEED_001);
  const loaded = await loadConfig(clusterPath);
  assert.equal(loaded.kind, "cluster");
  assert.deepEqual(loaded.kind === "cluster" && loaded.config.startOrder, ["gate", "net", "game1"]);
  const neither = await write("neither.json", '{ "master": {} }');
  await assert.rejects(loadConfig(neither), (err: unknown) => err instanceof ConfigError && /neither a cluster config .* nor a node config/.test(err.message));
});

test("a .ts file default-exporting defineConfig({...}) loads, and so does a .js file", async (t) => {
  const { dir, write } = await tempDir(t);
  await write("app/gate.ts");
  const ts = await write(
    "glowfly.config.ts",
    `import { defineConfig } from ${JSON.stringify(pathToFileURL(CONFIG_INDEX).href)};
const base: number = 4000; // TypeScript syntax: this file goes through tsx
interface Extra { wsport: number }
const extra: Extra = { wsport: base + 1 };
export default defineConfig({
  master: { rootport: base + 9, webport: base + 8 },
  servers: {
    gate: { rootport: base, app: "app.gate" },
    net: { netport: base + 2, ...extra, remoteport: [{ rootname: "gate" }], forward: [[200, 399]], frame: "native" },
  },
});
`,
  );
  const config = await loadClusterConfig(ts);
  assert.equal(config.source, ts);
  assert.equal(config.master.rootport, 4009);
  assert.deepEqual(config.startOrder, ["gate", "net"]);
  assert.deepEqual(nodeOf(config, "gate").apps, [join(dir, "app/gate.ts")]);
  assert.deepEqual(nodeOf(config, "net").roles, ["net", "ws", "remote"]);
  assert.deepEqual(nodeOf(config, "net").forward, { to: "gate", ranges: [[200, 399]] });

  const js = await write("cluster.mjs", `export default { servers: { solo: { netport: 4100, app: "./app/gate.ts" } } };\n`);
  assert.deepEqual([...(await loadClusterConfig(js)).nodes.keys()], ["solo"]);

  // Errors name the file: a bad key in a .ts file, no default export, a module that throws.
  const expectError = async (path: string, expect: RegExp) => {
    await assert.rejects(loadClusterConfig(path), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.equal(err.source, path);
      assert.match(err.issues.join("\n"), expect);
      return true;
    });
  };
  await expectError(await write("bad.ts", `export default { servers: { a: { netprot: 1 } } };\n`), /^servers\.a: unknown key\(s\) "netprot"$/);
  await expectError(await write("nodefault.ts", `export const config = { servers: {} };\n`), /no default export; write `export default defineConfig/);
  await expectError(await write("throws.ts", `throw new Error("boom");\n`), /cannot import the file: boom/);
  await expectError(await write("syntax.ts", `export default { servers: {\n`), /cannot import the file/);
  await expectError(join(dir, "missing.ts"), /cannot import the file/);
  await expectError(join(dir, "missing.json"), /cannot read the file: .*ENOENT/);
  await expectError(await write("broken.json", '{ "servers": '), /not valid JSON/);
  await expectError(await write("null.json", "null"), /^\(top level\): .*expected object, received null$/);
});

test("hostile input gives a ConfigError, never a crash or a hang", () => {
  const started = Date.now();
  for (const value of [null, undefined, 0, "config", true, [], [{ servers: {} }], () => {}, Symbol("x")]) {
    assert.match(issuesOf(value)[0] ?? "", /^\(top level\): .*expected object/);
  }
  for (const value of [new Map([["servers", {}]]), new Date(), Object.create(null) as object]) issuesOf(value);

  // 10k servers in a chain of links, listed children first: valid, ordered roots first, no stack overflow.
  const n = 10_000;
  const chain: Record<string, unknown> = {};
  for (let i = n - 1; i >= 0; i--) chain[`s${i}`] = { rootport: 20_000 + i, ...(i > 0 ? { remoteport: [{ rootname: `s${i - 1}` }] } : {}) };
  const config = parse({ servers: chain });
  assert.equal(config.nodes.size, n);
  assert.deepEqual(config.startOrder, Array.from({ length: n }, (_, i) => `s${i}`));
  // The same chain closed into a ring: one cycle, named in a bounded line.
  const ring: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) ring[`s${i}`] = { rootport: 20_000 + i, remoteport: [{ rootname: `s${(i + 1) % n}` }] };
  const [cycle = ""] = issuesOf({ servers: ring });
  assert.match(cycle, /^servers\.s0\.remoteport: remoteport cycle: s0 -> s1 -> .* -> … \(10000 servers\) -> s0$/);
  assert.ok(cycle.length < 200);
  // 10k servers on one port: one issue per clash, found in linear time.
  const samePort: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) samePort[`s${i}`] = { netport: 5000, host: `10.0.${i >> 8}.${i & 255}` };
  assert.doesNotThrow(() => parse({ servers: samePort }), "different hosts share a port");
  for (let i = 0; i < n; i++) samePort[`s${i}`] = { netport: 5000 };
  assert.equal(issuesOf({ servers: samePort }).length, n - 1);
  // 10k servers linking to one that is missing.
  const orphans: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) orphans[`s${i}`] = { remoteport: [{ rootname: "nowhere" }] };
  const orphanIssues = issuesOf({ servers: orphans });
  assert.equal(orphanIssues.length, n);
  assert.match(orphanIssues[0] ?? "", /"nowhere" is not a server \(servers: s0, s1, .* and 9990 more\)$/);

  // Deeply nested junk where an object, a number, a list or a module name is expected.
  let deep: unknown = 1;
  for (let i = 0; i < 10_000; i++) deep = { a: deep, b: [deep] };
  assertIssue({ servers: { a: deep } }, "servers.a", /unknown key\(s\) "a", "b"/);
  assert.deepEqual(issuesOf({ servers: deep }), ['servers.a: unknown key(s) "a", "b"', "servers.b: Invalid input: expected object, received array"]);
  assertIssue({ servers: { a: { netport: deep } } }, "servers.a.netport", /expected number, received object/);
  assert.deepEqual(issuesOf({ servers: { a: { remoteport: [deep] } } }), [
    "servers.a.remoteport[0].rootname: Invalid input: expected string, received undefined",
    'servers.a.remoteport[0]: unknown key(s) "a", "b"',
  ]);
  assert.deepEqual(issuesOf({ servers: { a: { forward: deep, netport: 1 } } }), [
    "servers.a.forward.to: Invalid input: expected string, received undefined",
    'servers.a.forward: unknown key(s) "a", "b"',
  ]);
  assertIssue({ servers: { a: { log: deep } } }, "servers.a.log", /unknown key\(s\) "a", "b"/);
  assertIssue({ servers: { a: { app: deep } } }, "servers.a.app", /expected a module path or a list of module paths/);
  assertIssue({ servers: { a: {} }, master: deep }, "master", /unknown key\(s\) "a", "b"/);
  assertIssue({ servers: { a: {} }, memcached: deep }, "memcached", /unknown key\(s\) "a", "b"/);
  assert.deepEqual(issuesOf({ servers: { a: {} }, db: deep }), [
    'db.a: unknown key(s) "a", "b"',
    "db.b: expected a pool object, received array; a flat pool has keys host, user, passwd, port, db, charset, engine",
  ]);
  let deepArray: unknown = [];
  for (let i = 0; i < 100_000; i++) deepArray = [deepArray];
  assertIssue({ servers: deepArray }, "servers", /received array/);
  assertIssue({ servers: { a: { app: deepArray } } }, "servers.a.app", /expected a module path/);
  assertIssue({ servers: { gate: { rootport: 1 }, a: { netport: 2, remoteport: [{ rootname: "gate" }], forward: deepArray } } }, "servers.a.forward[0]", /expected a command id or a \[first, last\] range .*received array$/);

  // Keys special in JavaScript are plain names, and nothing is polluted.
  const proto = JSON.parse('{"servers":{"__proto__":{"rootport":1},"constructor":{"remoteport":[{"rootname":"__proto__"}]}}}') as unknown;
  const special = parse(proto);
  assert.deepEqual(special.startOrder, ["__proto__", "constructor"]);
  assert.deepEqual(nodeOf(special, "constructor").links, [{ rootName: "__proto__", host: "127.0.0.1", port: 1 }]);
  assert.equal(({} as Record<string, unknown>).rootport, undefined);
  assertIssue(JSON.parse('{"servers":{"a":{}},"__proto__":{"x":1}}'), "(top level)", /"__proto__"/);
  assertIssue({ servers: { a: { remoteport: [{ rootname: "toString" }] } } }, "servers.a.remoteport[0].rootname", /"toString" is not a server/);

  // Huge strings are cut in messages.
  const [huge = ""] = issuesOf({ servers: { a: { remoteport: [{ rootname: "y".repeat(1_000_000) }] } } });
  assert.ok(huge.length < 300, `${huge.length} chars`);
  const [hugeKey = ""] = issuesOf({ servers: { a: { ["k".repeat(1_000_000)]: 1 } } });
  assert.ok(hugeKey.length < 300, `${hugeKey.length} chars`);
  // A million forward entries are merged in bounded time.
  const million = parse({ servers: { gate: { rootport: 1 }, net: { netport: 2, remoteport: [{ rootname: "gate" }], forward: Array.from({ length: 1_000_000 }, (_, i) => i * 2) } } });
  assert.equal(nodeOf(million, "net").forward?.ranges.length, 1_000_000);
  assert.ok(Date.now() - started < 20_000, `took ${Date.now() - started} ms`);
});
