/** Application modules: what a node's config names in `app`. */
import { pathToFileURL } from "node:url";
import { resolve } from "node:path";
import { registerTsx } from "../config/load.ts";
import type { Node } from "./node.ts";

/** An app module sets up a node: registers its commands, timers and state. */
export type App = (node: Node) => void | Promise<void>;

/** Identity helper that types an app module's default export. */
export function defineApp(app: App): App {
  return app;
}

/** Import an app module by path (relative to `baseDir`); its default export must be an App. */
export async function loadApp(path: string, baseDir: string): Promise<App> {
  if (/\.(c|m)?tsx?$/.test(path)) await registerTsx(); // TypeScript apps work from the compiled CLI too
  const url = pathToFileURL(resolve(baseDir, path)).href;
  const module = (await import(url)) as { default?: unknown };
  if (typeof module.default !== "function") {
    throw new Error(`app module ${path} must export a default function (use defineApp)`);
  }
  return module.default as App;
}
