/**
 * Keeps `npm run bench` from rotting: runs the harness with tiny settings and checks that every
 * server answered and a ratio was computed (the data and fan-out sections have tests of their
 * own below and in fanout.test.ts). It asserts no speed: numbers belong to the bench.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";

test("the benchmark harness runs every server and prints ratios against the raw baselines", () => {
  const args = ["--import", "tsx", "bench/run.ts", "--no-idle", "--clients=10", "--warmup=100", "--measure=200", "--rounds=1", "--no-data", "--no-fanout"];
  const run = spawnSync(process.execPath, args, { encoding: "utf8", timeout: 60_000 });
  assert.equal(run.status, 0, `bench exited ${run.status}: ${run.stderr}`);
  for (const server of ["raw net", "glowfly tcp native", "glowfly tcp firefly", "raw ws", "glowfly ws native"]) {
    const row = run.stdout.split("\n").find((line) => line.startsWith(`| ${server}`));
    assert.ok(row, `no row for ${server}`);
    const cells = row.split("|").map((c) => c.trim());
    const reqPerSecond = Number(cells[3]?.replace(/,/g, ""));
    assert.ok(reqPerSecond > 0, `${server}: no requests completed (${row})`);
    if (server.startsWith("glowfly")) assert.match(row, /\*\*\d+\.\d\d\*\*/, `${server}: no ratio`);
  }
});

test("the data-layer section runs on SQLite with tiny counts and prints every table", () => {
  const args = ["--import", "tsx", "bench/run.ts", "--only=data", "--data-backends=sqlite", "--data-rows=300", "--data-ms=50"];
  const run = spawnSync(process.execPath, args, { encoding: "utf8", timeout: 30_000 });
  assert.equal(run.status, 0, `bench exited ${run.status}: ${run.stderr}`);
  const rows = run.stdout.split("\n").filter((line) => line.startsWith("| SQLite |"));
  // reads, write-back of updates, write-back of creates, replay
  assert.equal(rows.length, 4, `expected 4 SQLite rows:\n${run.stdout}`);
  for (const row of rows) assert.doesNotMatch(row, /skipped|failed/, row);
  assert.match(rows[0]!, /\*\*[\d,]+×\*\*/, "no read ratio");
  const updateRows = run.stdout.split("\n").filter((line) => line.startsWith("| journal fsync") || line.startsWith("| no journal"));
  assert.equal(updateRows.length, 8, "one update row per fsync policy and writer count");
});
