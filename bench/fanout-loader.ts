/**
 * Fan-out clients (their own process; the orchestrator may start a few). They only receive:
 * a broadcast round records each connection's arrival time; channel load records each
 * message's delay after the send time it carries. Arrival is stamped once per read (`data`
 * event or WebSocket message), before its frames are parsed. Only connects to 127.0.0.1.
 */
import { connect, type Socket } from "node:net";
import WebSocket, { type RawData } from "ws";
import { FANOUT_HEADER, MergingHistogram, mono, openFileLimit, WIRES, type ArrivalResult, type FanoutWire, type LatencyResult, type WireName } from "./fanout-wire.ts";
import { Splitter } from "./protocols.ts";
import { serveRpc, type Args } from "./rpc.ts";
import { openInWaves, type Opened } from "./waves.ts";

const HOST = "127.0.0.1";

/** mono() of the read being parsed (one process, one thread: set before each parse). */
let readAt = 0;

// Broadcast round state.
let round = -1;
let arrivals = new Float64Array(0);
let arrived = 0;
let roundDone: (() => void) | null = null;

// Channel load state.
const latency = new MergingHistogram();

function onMessage(buf: Buffer, offset: number): void {
  const body = offset + FANOUT_HEADER;
  const tag = buf.readUInt32BE(body + 8);
  if (tag === 0) {
    latency.record((readAt - buf.readDoubleBE(body)) * 1000);
  } else if (tag === round) {
    if (arrived < arrivals.length) arrivals[arrived] = readAt;
    if (++arrived === arrivals.length) roundDone?.();
  }
}

class Connection {
  private socket: Socket | null = null;
  private ws: WebSocket | null = null;
  private step = 0;
  private greeted: (() => void) | null = null;

  constructor(
    private readonly wire: FanoutWire,
    private readonly index: number,
  ) {}

  open(port: number, timeoutMs: number): Promise<void> {
    const steps = this.wire.greeting(this.index);
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => done(new Error("timeout")), timeoutMs);
      // Called again by a later error or close; only the first call counts.
      const done = (err?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.greeted = null;
        if (err) {
          this.close();
          reject(err);
        } else resolve();
      };
      this.greeted = () => done();
      const onFrame = (buf: Buffer, offset: number) => {
        if (this.greeted !== null) {
          if (steps[this.step]!.done(buf, offset)) {
            if (++this.step === steps.length) this.greeted();
            else this.send(steps[this.step]!.send);
          }
          return;
        }
        if (this.wire.isMessage(buf, offset)) onMessage(buf, offset);
        else {
          const answer = this.wire.answer(buf, offset);
          if (answer !== null) this.send(answer);
        }
      };
      const connected = () => {
        if (steps.length === 0) this.greeted?.();
        else this.send(steps[0]!.send);
      };
      if (this.wire.transport === "tcp") {
        const splitter = new Splitter(0, 4, onFrame);
        const socket = connect({ host: HOST, port, noDelay: true });
        this.socket = socket;
        socket.on("data", (chunk: Buffer) => {
          readAt = mono();
          splitter.push(chunk);
        });
        socket.once("connect", connected);
        socket.on("error", (err) => done(err));
        socket.on("close", () => done(new Error("closed")));
      } else {
        // A zero mask spares the random bytes (the clients only send greetings anyway).
        const ws = new WebSocket(`ws://${HOST}:${port}/`, { perMessageDeflate: false, generateMask: () => undefined });
        this.ws = ws;
        ws.on("message", (data: RawData) => {
          readAt = mono();
          // A native WebSocket message holds one or more whole frames (a glowfly gateway may batch a turn's frames).
          const buf = data as Buffer;
          for (let offset = 0; offset + FANOUT_HEADER <= buf.length; offset += 4 + buf.readUInt32BE(offset)) onFrame(buf, offset);
        });
        ws.once("open", connected);
        ws.on("error", (err) => done(err));
        ws.on("close", () => done(new Error("closed")));
      }
    });
  }

  private send(frame: Buffer): void {
    if (this.socket !== null) this.socket.write(frame);
    else this.ws?.send(frame);
  }

  close(): void {
    this.socket?.destroy();
    this.ws?.terminate();
  }
}

let connections: Connection[] = [];

/** Open `count` connections (indexes from `firstIndex`), `batch` at a time; keep those that made it. */
async function open(args: Args): Promise<Opened> {
  const wire: FanoutWire = WIRES[args.wire as WireName];
  if (wire === undefined) throw new Error(`unknown wire ${String(args.wire)}`);
  const port = args.port as number;
  const count = args.count as number;
  const firstIndex = (args.firstIndex as number | undefined) ?? 0;
  const batch = (args.batch as number | undefined) ?? 500;
  const timeoutMs = (args.timeoutMs as number | undefined) ?? 15_000;
  return openInWaves(count, batch, (i) => new Connection(wire, firstIndex + i), (c) => c.open(port, timeoutMs), connections);
}

serveRpc(
  { nofile: openFileLimit() },
  {
    open,
    /** Expect round `round` on every connection held. */
    arm: (args) => {
      globalThis.gc?.();
      round = args.round as number;
      arrivals = new Float64Array(connections.length);
      arrived = 0;
    },
    /** Wait (bounded) until every connection has the round's message; delays after `sentAt`. */
    wait: async (args): Promise<ArrivalResult> => {
      const sentAt = args.sentAt as number;
      if (arrived < arrivals.length) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, (args.timeoutMs as number | undefined) ?? 10_000);
          roundDone = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        roundDone = null;
      }
      const delays = new MergingHistogram();
      const n = Math.min(arrived, arrivals.length);
      for (let i = 0; i < n; i++) delays.record((arrivals[i]! - sentAt) * 1000);
      return { received: arrived, histogram: delays.data() };
    },
    latencyStart: () => {
      latency.reset();
    },
    /** Wait (bounded) until `expect` channel messages arrived, then report their delays. */
    latencyRead: async (args): Promise<LatencyResult> => {
      const expect = args.expect as number;
      const deadline = mono() + ((args.timeoutMs as number | undefined) ?? 3000);
      while (latency.count < expect && mono() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      return { received: latency.count, histogram: latency.data() };
    },
    close: async () => {
      for (const c of connections) c.close();
      connections = [];
      // Let the closes go out before the next phase counts the server's connections.
      await new Promise((resolve) => setTimeout(resolve, 50));
    },
  },
);
