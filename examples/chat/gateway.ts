/**
 * The chat gateway: verifies a name, puts the session in the scene with fewer people, answers
 * "who is online" from the room's members, and serves the web page (index.html and the page's
 * script, bundled with the browser client SDK at start).
 */
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { CommandError, defineApp, type Node } from "../../src/index.ts";
import { ROOM, Who } from "./protocol.ts";

const NAME = /^[\p{L}\p{N}_ .-]{1,24}$/u;
/** Where the page is served (HTTP). */
const WEB_PORT = Number(process.env.CHAT_WEB_PORT ?? 4380);

export default defineApp(async (node) => {
  node.sessions.verify((credentials) => {
    const name = typeof (credentials as { name?: unknown } | null)?.name === "string" ? (credentials as { name: string }).name.trim() : "";
    if (!NAME.test(name)) throw new CommandError(1001, "pick a name of 1-24 letters, digits, spaces, _ . or -");
    const scene = quietestScene(node);
    if (scene === null) throw new CommandError(1002, "no chat scene is up; try again shortly");
    return { uid: name, scene, data: { name } };
  });
  node.commands.handle(Who, () => node.sessions.localMembers(ROOM).map((s) => ({ name: s.uid, scene: s.scene })));
  await serveWeb(node);
});

/** The connected scene node with the fewest members in the room. */
function quietestScene(node: Node): string | null {
  const scenes = (node.root?.children() ?? []).filter((c) => c.startsWith("scene")).sort();
  const count = new Map(scenes.map((s) => [s, 0]));
  for (const member of node.sessions.localMembers(ROOM)) if (count.has(member.scene)) count.set(member.scene, count.get(member.scene)! + 1);
  let best: string | null = null;
  for (const [scene, n] of count) if (best === null || n < count.get(best)!) best = scene;
  return best;
}

async function serveWeb(node: Node): Promise<void> {
  const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
  const bundle = await build({ entryPoints: [here("./web/main.ts")], bundle: true, platform: "browser", format: "esm", target: "es2022", write: false, logLevel: "silent" });
  const files: Record<string, { type: string; body: string }> = {
    "/": { type: "text/html; charset=utf-8", body: await readFile(here("./web/index.html"), "utf8") },
    "/main.js": { type: "text/javascript; charset=utf-8", body: bundle.outputFiles[0]!.text },
  };
  const server = createServer((req, res) => {
    const file = files[new URL(req.url ?? "/", "http://localhost").pathname];
    if (file === undefined) res.writeHead(404, { "content-type": "text/plain" }).end("not found");
    else res.writeHead(200, { "content-type": file.type, "cache-control": "no-store" }).end(file.body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(WEB_PORT, "127.0.0.1", resolve);
  });
  server.unref();
  node.log.info("chat page", { url: `http://127.0.0.1:${WEB_PORT}/` });
}
