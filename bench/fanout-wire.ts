/**
 * What the fan-out processes share: the clock, the pushed message, the client wires, a
 * histogram that merges across processes, the open-file check and the result shapes.
 *
 * The message is a native push frame (14-byte header: u32 length, u8 type 7, u8 flags, u32 id,
 * u32 command) with a 64-byte body: f64 send time (monotonic ms, below), u32 tag (the broadcast
 * round, or 0 for channel messages), then filler. A glowfly gateway pushing the same body with
 * the raw codec puts the same bytes on the wire, so the clients read every server kind alike.
 */
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { BUCKETS, indexOf, quantileOf } from "./histogram.ts";

export const FANOUT_HEADER = 14;
export const FANOUT_BODY = 64;
/** Command id of the pushed message. */
export const FANOUT_COMMAND = 100;
const TYPE_PUSH = 7;

/**
 * Milliseconds on CLOCK_MONOTONIC, which every process of the machine shares: performance.now()
 * runs on the same clock (uv_hrtime) from a per-process origin, so one offset taken at start
 * makes send times of the server comparable with arrival times in the client processes.
 */
const MONO_OFFSET_MS = Number(process.hrtime.bigint()) / 1e6 - performance.now();
export const mono = (): number => performance.now() + MONO_OFFSET_MS;

/** A fresh body (callers hand it to writes that may still be queued, so never reuse one). */
export function fanoutBody(sentMs: number, tag: number): Buffer {
  const body = Buffer.alloc(FANOUT_BODY, 0x61);
  body.writeDoubleBE(sentMs, 0);
  body.writeUInt32BE(tag, 8);
  return body;
}

/** The whole native push frame around a body (what the raw servers write). */
export function fanoutFrame(body: Buffer): Buffer {
  return nativeFrame(TYPE_PUSH, 0, FANOUT_COMMAND, body);
}

/** One step of a connection's greeting: send a frame, then wait for the frame `done` accepts. */
export interface GreetingStep {
  send: Buffer;
  done(buf: Buffer, offset: number): boolean;
}

/** How a client process talks to one server kind. */
export interface FanoutWire {
  transport: "tcp" | "ws";
  /** Frames exchanged before the connection counts as open (native handshake, login), by connection index. */
  greeting(index: number): GreetingStep[];
  /** Whether the frame at `offset` is a pushed fan-out message (body at offset + FANOUT_HEADER). */
  isMessage(buf: Buffer, offset: number): boolean;
  /** An answer the client must send to a frame that is not a message (a heartbeat), or null. */
  answer(buf: Buffer, offset: number): Buffer | null;
}

/** A fan-out push, from any server kind (a glowfly gateway's carry the session's sequence number in their id field, ignored). */
const isPush = (buf: Buffer, offset: number): boolean => buf[offset + 4] === TYPE_PUSH && buf.readUInt32BE(offset + 10) === FANOUT_COMMAND;

// Native frame types and the Login system command (docs/protocol.md).
const TYPE_HANDSHAKE = 1;
const TYPE_HEARTBEAT = 2;
const TYPE_REQUEST = 3;
const TYPE_RESPONSE = 4;
const LOGIN_COMMAND = 0xffff_ff01;
const LOGIN_ID = 1;

/** A native frame (header + body). */
function nativeFrame(type: number, id: number, command: number, body: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(FANOUT_HEADER + body.length);
  frame.writeUInt32BE(FANOUT_HEADER - 4 + body.length, 0);
  frame[4] = type;
  frame[5] = 0;
  frame.writeUInt32BE(id, 6);
  frame.writeUInt32BE(command, 10);
  body.copy(frame, FANOUT_HEADER);
  return frame;
}

const HANDSHAKE = nativeFrame(TYPE_HANDSHAKE, 0, 0, Buffer.from(JSON.stringify({ protocol: 1, client: "glowfly-fanout-bench" })));
const HEARTBEAT = nativeFrame(TYPE_HEARTBEAT, 0, 0, Buffer.alloc(0));

/** Native handshake, then Login as uid "u<index>" (unique per connection of a run). */
function glowflyGreeting(index: number): GreetingStep[] {
  const login = nativeFrame(TYPE_REQUEST, LOGIN_ID, LOGIN_COMMAND, Buffer.from(JSON.stringify({ credentials: `u${index}` })));
  return [
    { send: HANDSHAKE, done: (buf, offset) => buf[offset + 4] === TYPE_HANDSHAKE },
    // An Error (type 5) is not accepted: the connection then fails by the open timeout.
    { send: login, done: (buf, offset) => buf[offset + 4] === TYPE_RESPONSE && buf.readUInt32BE(offset + 6) === LOGIN_ID },
  ];
}

/** The answer to a server Heartbeat (type 2) is a Heartbeat. */
const answerHeartbeat = (buf: Buffer, offset: number): Buffer | null => (buf[offset + 4] === TYPE_HEARTBEAT ? HEARTBEAT : null);

/**
 * Client wires by name. The raw servers send nothing but messages; a glowfly gateway wants the
 * native handshake and a Login first, and heartbeats answered (none are due with the bench's
 * limits, but a wire that ignored them would be dropped on a longer run).
 */
export const WIRES = {
  "raw-tcp": { transport: "tcp", greeting: () => [], isMessage: isPush, answer: () => null },
  "raw-ws": { transport: "ws", greeting: () => [], isMessage: isPush, answer: () => null },
  "glowfly-tcp": { transport: "tcp", greeting: glowflyGreeting, isMessage: isPush, answer: answerHeartbeat },
  "glowfly-ws": { transport: "ws", greeting: glowflyGreeting, isMessage: isPush, answer: answerHeartbeat },
} as const satisfies Record<string, FanoutWire>;

export type WireName = keyof typeof WIRES;

/** The soft and hard open-file limits of this process (Linux: /proc/self/limits), or null. */
export function openFileLimit(): { soft: number; hard: number } | null {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const m = line?.match(/^Max open files\s+(\S+)\s+(\S+)/);
    if (!m) return null;
    const n = (s: string) => (s === "unlimited" ? Number.POSITIVE_INFINITY : Number(s));
    return { soft: n(m[1]!), hard: n(m[2]!) };
  } catch {
    return null;
  }
}

/** Non-empty buckets as [index, count] pairs, plus the exact maximum. */
export interface HistogramData {
  buckets: [number, number][];
  max: number;
}

/**
 * Latency histogram in microseconds that crosses process boundaries (the client processes'
 * histograms are merged by the orchestrator), on bench/histogram.ts's log-linear buckets.
 */
export class MergingHistogram {
  private readonly counts = new Float64Array(BUCKETS);
  count = 0;
  max = 0;

  record(us: number): void {
    const v = us < 0 ? 0 : us > 0x7fff_ffff ? 0x7fff_ffff : us | 0;
    this.counts[indexOf(v)]!++;
    this.count++;
    if (us > this.max) this.max = us;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.max = 0;
  }

  data(): HistogramData {
    const buckets: [number, number][] = [];
    this.counts.forEach((n, i) => {
      if (n > 0) buckets.push([i, n]);
    });
    return { buckets, max: this.max };
  }

  add(data: HistogramData): void {
    for (const [i, n] of data.buckets) {
      this.counts[i]! += n;
      this.count += n;
    }
    if (data.max > this.max) this.max = data.max;
  }

  /** The value at quantile q (0..1), in microseconds; 0 if nothing was recorded. */
  quantile(q: number): number {
    return quantileOf(this.counts, this.count, q);
  }
}

/** What a fan-out server answers to `broadcast`. */
export interface BroadcastResult {
  /** Recipients the message went to. */
  sent: number;
  /** mono() just before the send call: the send time every client's delay is measured from. */
  sentAt: number;
  /** ms until the send call returned (for the raw servers: the write loop). */
  loopMs: number;
  /** ms until the bytes were handed to the kernel (see flushBy). */
  flushMs: number;
  flushBy: "write callbacks" | "end of the event-loop turn";
  /** Server CPU (user + system) from before the send call until flushed, µs. */
  cpuUs: number;
}

/** What a fan-out server answers to `channel`. */
export interface ChannelResult {
  members: number;
  /** Messages sent to every member (timer ticks that sent). */
  messages: number;
  wallMs: number;
  cpuUs: number;
  /** ms the server spent sending, summed over ticks (the send calls). */
  sendMs: number;
  /** Largest delay of a tick behind its schedule, ms. */
  maxLateMs: number;
}

/** What a client process answers to `wait` (one broadcast round). */
export interface ArrivalResult {
  received: number;
  /** Each arrival's delay after the server's sentAt, µs (its max is the last client's). */
  histogram: HistogramData;
}

/** What a client process answers to `latency` (channel load). */
export interface LatencyResult {
  received: number;
  histogram: HistogramData;
}
