/**
 * The chat example end to end, as a user sees it: the cluster runs from examples/chat/config.json
 * under the master (a gateway and two scene nodes, real processes); two Chromium pages load the
 * page the gateway serves, pick names and chat; a terminal client joins over TCP; one page's
 * network is cut (a proxy in front of the gateway's WebSocket port) and restored, and it gets
 * what was said meanwhile, in order, on the same session. A screenshot is saved.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Page } from "playwright-core";
import { CuttableProxy, waitFor } from "../helpers.ts";
import { launchChromium } from "./chromium.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const WEB = "http://127.0.0.1:4380/";
const WS_PORT = 4302;

function startProcess(args: string[], input = false): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, ["--import", "tsx", ...args], { cwd: ROOT, stdio: [input ? "pipe" : "ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 8000);
  await exited;
  clearTimeout(timer);
}

async function joinRoom(page: Page, url: string, name: string): Promise<void> {
  await page.goto(url);
  await page.fill("#name", name);
  await page.click("#join");
  try {
    await page.waitForFunction((n) => document.getElementById("status")?.textContent?.startsWith(`online as ${n}`) === true, name, { timeout: 15_000 });
  } catch (err) {
    throw new Error(`${name} did not get online; the page says "${await page.textContent("#status")}"`, { cause: err });
  }
}

const logText = (page: Page): Promise<string[]> => page.$$eval("#log li", (items) => items.map((i) => i.textContent ?? ""));

async function say(page: Page, text: string): Promise<void> {
  await page.fill("#text", text);
  await page.click("#send");
}

async function waitForLine(page: Page, text: string): Promise<void> {
  await page.waitForFunction((t) => [...document.querySelectorAll("#log li")].some((li) => li.textContent?.includes(t) === true), text, { timeout: 10_000 });
}

test("chat: two browser pages and a terminal client talk; a page cut off resumes and gets what it missed", async (t) => {
  const browser = await launchChromium(t);
  if (browser === undefined) return;
  const master = startProcess(["src/cli/main.ts", "start", "examples/chat/config.json"]);
  t.after(() => stopProcess(master.child));
  await waitFor(() => /glowfly master: 3 node\(s\)/.test(master.output()), 60_000, "the chat cluster to start");
  const proxy = new CuttableProxy(WS_PORT);
  const proxyPort = await proxy.listen();
  t.after(() => proxy.close());

  const ann = await browser.newPage();
  const ben = await browser.newPage();
  // Ann reaches the gateway through the proxy, so her network can be cut.
  await joinRoom(ann, `${WEB}?ws=ws://127.0.0.1:${proxyPort}/`, "ann");
  await joinRoom(ben, WEB, "ben");
  await ann.waitForFunction(() => document.getElementById("roster")?.textContent?.includes("ben") === true, undefined, { timeout: 10_000 });
  const roster = await ann.textContent("#roster");
  assert.match(roster ?? "", /ann · scene\d/);
  assert.match(roster ?? "", /ben · scene\d/);
  assert.ok((await logText(ann)).some((l) => l.includes("ben joined")), "ann saw ben join");

  await say(ben, "hello ann");
  await waitForLine(ann, "ben: hello ann");
  await say(ann, "hi ben");
  await waitForLine(ben, "ann: hi ben");

  // A terminal client over TCP joins the same room.
  const cat = startProcess(["examples/chat/cli.ts", "cat", "tcp://127.0.0.1:4301"], true);
  t.after(() => stopProcess(cat.child));
  await waitFor(() => cat.output().includes("logged in as cat"), 15_000, "the terminal client to log in");
  cat.child.stdin!.write("meow over tcp\n");
  await waitForLine(ann, "cat: meow over tcp");
  await waitForLine(ben, "cat: meow over tcp");
  await waitFor(() => cat.output().includes("ben: hello ann") || cat.output().includes("ann: hi ben") || cat.output().includes("cat: meow over tcp"), 5000, "the terminal client to see the room");

  // Cut Ann off. Her client notices, and keeps trying; meanwhile Ben talks.
  const sessionBefore = await ann.evaluate(() => document.getElementById("status")?.textContent ?? "");
  proxy.cut();
  await ann.waitForFunction(() => document.getElementById("status")?.textContent === "reconnecting", undefined, { timeout: 15_000 });
  const missed = ["while you were away 1", "while you were away 2", "while you were away 3"];
  for (const text of missed) {
    await say(ben, text);
    await waitForLine(ben, `ben: ${text}`);
  }
  assert.ok(!(await logText(ann)).some((l) => l.includes("while you were away")), "nothing reached ann while she was cut off");
  proxy.restore();
  await ann.waitForFunction(() => document.getElementById("status")?.textContent?.startsWith("resumed as ann") === true, undefined, { timeout: 15_000 });
  await waitForLine(ann, `ben: ${missed[2]}`);
  const lines = (await logText(ann)).filter((l) => l.includes("while you were away"));
  assert.deepEqual(
    lines.map((l) => l.replace(/ \(scene\d\)$/, "")),
    missed.map((m) => `ben: ${m}`),
    "every missed line, once, in order",
  );
  assert.ok(!(await logText(ann)).some((l) => l.includes("a new session")), "the same session resumed, not a new login");
  assert.match(sessionBefore, /^online as ann in scene\d/);

  // And she can talk again.
  await say(ann, "back");
  await waitForLine(ben, "ann: back");

  // The terminal client leaves: everyone is told, and the roster drops it.
  cat.child.stdin!.write("/quit\n");
  await waitForLine(ben, "cat left");
  await waitForLine(ann, "cat left");
  await ann.waitForFunction(() => document.getElementById("roster")?.textContent?.includes("cat") === false, undefined, { timeout: 10_000 });

  mkdirSync(join(ROOT, "test-results"), { recursive: true });
  await ann.screenshot({ path: join(ROOT, "test-results/chat.png"), fullPage: true });
});
