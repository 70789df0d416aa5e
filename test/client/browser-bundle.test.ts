/**
 * The browser entry of the client SDK must bundle for the browser without anything from Node.
 * The Node entry must not: bundling it the same way fails, which shows the check can fail.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { build, type BuildFailure } from "esbuild";

const entry = (name: string) => fileURLToPath(new URL(`../../src/client/${name}`, import.meta.url));

const browserBuild = (file: string) =>
  build({
    entryPoints: [entry(file)],
    bundle: true,
    platform: "browser",
    format: "esm",
    write: false,
    logLevel: "silent",
  });

/** Module specifiers the bundle still imports (everything else was bundled in). */
function importsOf(code: string): string[] {
  const found = new Set<string>();
  for (const m of code.matchAll(/(?:\bimport\s*(?:[\w*{}\s,]+from\s*)?|\bimport\s*\(\s*|\brequire\s*\(\s*)["']([^"']+)["']/g)) found.add(m[1] ?? "");
  return [...found];
}

test("the browser entry bundles for the browser with nothing from Node", async () => {
  const result = await browserBuild("browser.ts");
  assert.deepEqual(result.errors, []);
  assert.equal(result.outputFiles.length, 1);
  const code = result.outputFiles[0]?.text ?? "";
  assert.ok(code.length > 1000, "the bundle holds the client");
  assert.match(code, /\bClient = class\b|\bclass Client\b/);
  assert.match(code, /export\s*\{[^}]*\bconnect\b[^}]*\}/, "the bundle exports connect");
  assert.doesNotMatch(code, /["']node:/, "no node: specifier anywhere in the bundle");
  const leftover = importsOf(code);
  assert.deepEqual(leftover, [], `the bundle still imports ${leftover.join(", ")}`);
  for (const builtin of ["net", "tls", "http", "fs", "ws"]) {
    assert.doesNotMatch(code, new RegExp(`(?:from|require\\()\\s*["']${builtin}["']`), `imports ${builtin}`);
  }
});

test("the Node entry does not bundle for the browser (the check above can fail)", async () => {
  await assert.rejects(browserBuild("index.ts"), (err: unknown) => {
    const failure = err as BuildFailure;
    assert.ok(Array.isArray(failure.errors) && failure.errors.length > 0, "esbuild reports errors");
    const texts = failure.errors.map((e) => e.text).join("\n");
    assert.match(texts, /node:net/, texts);
    return true;
  });
});
