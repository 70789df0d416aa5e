/**
 * The `glowfly` CLI as a child process: start a node from a config file, serve the echo example
 * to the SDK client, stop gracefully on a signal; refuse bad configs and commands with the
 * documented exit codes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { connect, KickCode, type KickBody } from "../../src/client/index.ts";
import { Add, Echo } from "../../examples/echo/commands.ts";
import { waitFor } from "../helpers.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const ECHO_APP = fileURLToPath(new URL("../../examples/echo/app.ts", import.meta.url));
const LISTENING = /^glowfly node "([^"]+)" listening: ((tcp|ws):\/\/([^:]+):(\d+)(\S*)) \((native|firefly) frames\)$/;

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (or the signal that killed it). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function runCli(args: string[]): Run {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (err += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Run to completion (bounded), killing the child if it overstays. */
async function runToExit(args: string[], timeoutMs = 15_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = runCli(args);
  const timer = setTimeout(() => run.child.kill("SIGKILL"), timeoutMs);
  try {
    const { code } = await run.exited;
    return { code, stdout: run.stdout(), stderr: run.stderr() };
  } finally {
    clearTimeout(timer);
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill("SIGKILL");
  }
}

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "glowfly-cli-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function writeConfig(dir: string, config: unknown, name = "glowfly.json"): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, JSON.stringify(config, null, 2));
  return path;
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  test(`glowfly start serves the echo app and exits 0 on ${signal}`, async (t) => {
    const dir = await tempDir(t);
    // App paths may be absolute, or relative to the config file.
    const app = signal === "SIGTERM" ? ECHO_APP : relative(dir, ECHO_APP);
    const configPath = await writeConfig(dir, {
      name: "cli-echo",
      app,
      tcp: [{ port: 0 }, { port: 0, frame: "firefly" }],
      ws: [{ port: 0, path: "/play" }],
      limits: { heartbeatMs: 1000, idleTimeoutMs: 3000 },
    });
    const run = runCli(["start", configPath]);
    try {
      const listening = () =>
        run
          .stdout()
          .split("\n")
          .map((line) => LISTENING.exec(line))
          .filter((m) => m !== null);
      await waitFor(() => listening().length === 3 || run.child.exitCode !== null, 15_000, "three listening lines");
      assert.equal(listening().length, 3, `stdout:\n${run.stdout()}\nstderr:\n${run.stderr()}`);
      const lines = listening().map((m) => ({ name: m[1], url: m[2] ?? "", transport: m[3], host: m[4], port: Number(m[5]), path: m[6], frame: m[7] }));
      assert.deepEqual(
        lines.map((l) => [l.name, l.transport, l.host, l.path, l.frame]),
        [
          ["cli-echo", "tcp", "127.0.0.1", "", "native"],
          ["cli-echo", "tcp", "127.0.0.1", "", "firefly"],
          ["cli-echo", "ws", "127.0.0.1", "/play", "native"],
        ],
      );
      for (const l of lines) assert.ok(l.port > 0 && l.port < 65536, `a real port: ${l.url}`);

      const native = lines[0]?.url ?? "";
      const ws = lines[2]?.url ?? "";
      const tcpClient = await connect(native, { reconnect: false });
      t.after(() => tcpClient.close());
      const wsClient = await connect(ws, { reconnect: false });
      t.after(() => wsClient.close());
      assert.deepEqual(await tcpClient.request(Echo, { text: "hello cli" }), { text: "hello cli" });
      assert.deepEqual(await wsClient.request(Echo, { text: "hello ws" }), { text: "hello ws" });
      assert.deepEqual(await tcpClient.request(Add, { a: 40, b: 2 }), { sum: 42 });

      const kicks: KickBody[] = [];
      tcpClient.onKick((k) => kicks.push(k));
      const startedStop = Date.now();
      assert.ok(run.child.kill(signal));
      let timer: NodeJS.Timeout | undefined;
      const exit = await Promise.race([run.exited, new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), 5000)))]);
      clearTimeout(timer);
      assert.notEqual(exit, "timeout", `no exit within 5 s of ${signal}`);
      assert.deepEqual(exit, { code: 0, signal: null }, `stderr:\n${run.stderr()}`);
      assert.ok(Date.now() - startedStop < 5000);
      // Clients were told why, and the log says how it stopped.
      await waitFor(() => tcpClient.state === "closed" && wsClient.state === "closed", 2000, "clients closed");
      assert.deepEqual(kicks, [{ code: KickCode.ShuttingDown, reason: "server shutting down" }]);
      assert.match(run.stdout(), new RegExp(`stopping .*signal=${signal}`));
      assert.match(run.stdout(), /\bstopped\b.*requests=3/);
      assert.equal(run.stderr(), "");
    } finally {
      if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill("SIGKILL");
    }
  });
}

test("glowfly start with an invalid config exits 1 naming the file and the key path", async (t) => {
  const dir = await tempDir(t);
  const configPath = await writeConfig(dir, { name: "bad", tcp: [{ port: 0, limits: { bogus: 1 } }], ws: [{ port: 99999 }] });
  const { code, stdout, stderr } = await runToExit(["start", configPath]);
  assert.equal(code, 1, `stderr:\n${stderr}`);
  assert.ok(stderr.includes(`invalid config ${configPath}`), stderr);
  assert.match(stderr, /tcp\[0\]\.limits: unknown key\(s\) "bogus"/);
  assert.match(stderr, /ws\[0\]\.port: .*65535/);
  assert.doesNotMatch(stderr, /\bat \S+\.ts:\d+/, "a config error is not a stack trace");
  assert.doesNotMatch(stdout, /listening/);
});

test("glowfly start with a missing config file exits 1 naming the file", async (t) => {
  const dir = await tempDir(t);
  const missing = join(dir, "nope.json");
  const { code, stderr } = await runToExit(["start", missing]);
  assert.equal(code, 1, `stderr:\n${stderr}`);
  assert.ok(stderr.includes(missing), stderr);
  assert.match(stderr, /cannot read the file/);
});

test("glowfly start exits 1 when its port is taken", async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const address = blocker.address();
  assert.ok(address !== null && typeof address === "object");
  const dir = await tempDir(t);
  const configPath = await writeConfig(dir, { name: "busy", app: ECHO_APP, tcp: [{ port: address.port }] });
  const { code, stdout, stderr } = await runToExit(["start", configPath]);
  assert.equal(code, 1, `stderr:\n${stderr}`);
  assert.match(stderr, /EADDRINUSE/);
  assert.doesNotMatch(stdout, /listening:/);
});

test("glowfly with an unknown command exits 2 with the usage; help exits 0", async () => {
  const bogus = await runToExit(["bogus"]);
  assert.equal(bogus.code, 2);
  assert.match(bogus.stderr, /unknown command "bogus"/);
  assert.match(bogus.stderr, /usage:\n {2}glowfly start \[config\]/);

  const extra = await runToExit(["start", "a.json", "b.json"]);
  assert.equal(extra.code, 2);
  assert.match(extra.stderr, /takes one config path, got 2/);

  const help = await runToExit(["help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /usage:\n {2}glowfly start/);

  const badOption = await runToExit(["start", "--bogus"]);
  assert.equal(badOption.code, 2);
  assert.match(badOption.stderr, /unknown option "--bogus"/);
  assert.equal(help.stderr, "");
});

test("a bad cluster config fails at start with the key path: missing root, duplicate port, cycle, wrong type", async () => {
  const dir = await mkdtemp(join(tmpdir(), "glowfly-cli-cluster-"));
  const cases: [string, unknown, RegExp][] = [
    ["missing root", { servers: { net: { netport: 41001, remoteport: [{ rootname: "gate", rootport: 41000 }] } } }, /servers\.net\.remoteport\[0\]\.rootname.*gate/],
    ["duplicate port", { servers: { a: { netport: 41002 }, b: { rootport: 41002 } } }, /41002/],
    ["cycle", { servers: { a: { rootport: 41003, remoteport: [{ rootname: "b" }] }, b: { rootport: 41004, remoteport: [{ rootname: "a" }] } } }, /a -> b -> a|b -> a -> b/],
    ["wrong type", { servers: { a: { netport: "41005" } } }, /servers\.a\.netport/],
  ];
  for (const [what, config, expected] of cases) {
    const path = await writeConfig(dir, config, `${what.replace(/ /g, "-")}.json`);
    const { code, stderr } = await runToExit(["start", path]);
    assert.equal(code, 1, `${what}: exit code`);
    assert.match(stderr, expected, `${what}: ${stderr}`);
  }
});
