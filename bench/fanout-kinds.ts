/**
 * The server kinds the fan-out section measures, in table order. Each is a server process
 * (a script under bench/ started with `args`) that calls serveFanout() from
 * bench/fanout-serve.ts with an adapter, and a client wire from bench/fanout-wire.ts.
 *
 * The glowfly kinds (docs/benchmarks.md, "Fan-out"): bench/fanout-glowfly.ts `net|ws` is a
 * session gateway Node (codec "raw", one native TCP or WebSocket listener, heartbeat and idle
 * limits raised, maxConnections 50,000) that is its own scene: verify accepts every login
 * (uid = the credential), its enter hook joins the session to channel "fanout", and the adapter
 * calls node.sessions.broadcast / node.sessions.pushChannel("fanout", …) with
 * push<Uint8Array>(FANOUT_COMMAND). Its broadcast is timed to the end of the event-loop turn
 * (flushed: null), after glowfly's own end-of-turn write batching. Its clients use the
 * "glowfly-tcp" / "glowfly-ws" wires of bench/fanout-wire.ts: native Handshake, then Login
 * (command 0xFFFFFF01, {"credentials":"u<index>"}), then the same reading as the raw wires
 * (pushes carry the session's sequence number in their id field, which the clients ignore).
 *
 * Another kind: a server script calling serveFanout() with its adapter, a wire if none fits,
 * and one line below. A kind with a baseline gets a ratio (the raw server's CPU µs per
 * delivery ÷ its own) against that raw row of the same run, and the targets' verdict lines
 * name it. test/bench/fanout.test.ts runs every kind of this list.
 */
import type { WireName } from "./fanout-wire.ts";

export interface FanoutKind {
  /** Name for --fanout-kinds and the ratio's baseline. */
  kind: string;
  label: string;
  /** Server process script, relative to bench/. */
  script: string;
  args: readonly string[];
  /** How the client processes connect and read. */
  wire: WireName;
  /** The raw kind this one is compared with (null for a raw kind). */
  baseline: string | null;
}

export const FANOUT_KINDS: readonly FanoutKind[] = [
  { kind: "raw-net", label: "raw net (length prefix)", script: "./fanout-server.ts", args: ["net"], wire: "raw-tcp", baseline: null },
  { kind: "glowfly-net", label: "glowfly tcp gateway", script: "./fanout-glowfly.ts", args: ["net"], wire: "glowfly-tcp", baseline: "raw-net" },
  { kind: "raw-ws", label: "raw ws", script: "./fanout-server.ts", args: ["ws"], wire: "raw-ws", baseline: null },
  { kind: "glowfly-ws", label: "glowfly ws gateway", script: "./fanout-glowfly.ts", args: ["ws"], wire: "glowfly-ws", baseline: "raw-ws" },
];
