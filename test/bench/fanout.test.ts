/**
 * Keeps the fan-out section of `npm run bench` from rotting: tiny settings, every server kind
 * (the raw ones and the glowfly gateways, which log in first), both tables. It asserts that
 * every message arrived, not how fast: numbers belong to the bench.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { FANOUT_KINDS } from "../../bench/fanout-kinds.ts";

test("the fan-out section broadcasts and runs the channel load for every server kind", () => {
  const args = ["--import", "tsx", "bench/run.ts", "--only=fanout", "--fanout-conns=50", "--fanout-rounds=1", "--fanout-members=50", "--fanout-ms=300"];
  // Four server kinds, each a tsx process start: generous on a loaded 2-core machine, inside the test timeout.
  const run = spawnSync(process.execPath, args, { encoding: "utf8", timeout: 100_000 });
  assert.equal(run.status, 0, `bench exited ${run.status}: ${run.stderr}`);
  const lines = run.stdout.split("\n");
  const section = (heading: string) => {
    const start = lines.findIndex((l) => l.startsWith(heading));
    assert.ok(start >= 0, `no "${heading}" in:\n${run.stdout}`);
    const end = lines.findIndex((l, i) => i > start + 1 && l.startsWith("#"));
    return lines.slice(start, end < 0 ? undefined : end);
  };
  const broadcast = section("#### Broadcast to 50 connections");
  const channel = section("#### Channel of 50 members");
  for (const kind of FANOUT_KINDS) {
    const cells = (table: string[]) => {
      const row = table.find((l) => l.startsWith(`| ${kind.label} |`));
      assert.ok(row, `no row for ${kind.label}:\n${table.join("\n")}`);
      return row.split("|").map((c) => c.trim());
    };
    const b = cells(broadcast);
    // | server | connections | rounds | loop | to kernel | CPU | wall ÷ CPU | µs/delivery | server/s | first | median | last | /s | ratio |
    assert.equal(b[2], "50", `${kind.label}: connections`);
    assert.ok(Number(b[13]?.replace(/,/g, "")) > 0, `${kind.label}: no deliveries/s (${b.join(" | ")})`);
    const c = cells(channel);
    // | server | members | msg/s | s | deliveries/s | delivered % | …
    assert.equal(c[2], "50", `${kind.label}: members`);
    assert.ok(Number(c[5]?.replace(/,/g, "")) > 0, `${kind.label}: no channel deliveries`);
    assert.equal(c[6], "100.0", `${kind.label}: some channel messages were lost`);
    // A glowfly kind is compared with its raw baseline of the same run; a raw kind is not.
    const ratios = [b[14], c[16]];
    if (kind.baseline === null) assert.deepEqual(ratios, ["—", "—"], `${kind.label}: a raw kind has no ratio`);
    else for (const r of ratios) assert.match(r ?? "", /^\*\*\d+\.\d\d\*\*$/, `${kind.label}: no ratio vs ${kind.baseline}`);
  }
  // Tiny settings are not the targets' own: no verdict, and it says so.
  assert.match(run.stdout, /deliveries in ≤ 10 ms server-side: not measured \(this run broadcast to 50 connections\)/);
  assert.match(run.stdout, /p99 ≤ 20 ms at 1,000 members × 100 msg\/s: not measured/);
});
