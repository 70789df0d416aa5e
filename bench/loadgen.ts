/**
 * Load generator (its own process). Closed loop: every client keeps exactly one request
 * outstanding and sends the next from the reply's 'data'/'message' callback, with its request
 * frame encoded once and the id patched in place. Latency goes into one shared histogram.
 * Only ever connects to 127.0.0.1.
 */
import { connect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import WebSocket, { type RawData } from "ws";
import { Histogram } from "./histogram.ts";
import { Splitter, wireFor, type Target, type TargetKind, type Wire } from "./protocols.ts";
import { serveRpc, type Args } from "./rpc.ts";
import { openInWaves, type Opened } from "./waves.ts";

const HOST = "127.0.0.1";

const histogram = new Histogram();
let running = false;
let replies = 0;
let errors = 0;
let mark = { wallMs: 0, cpuUs: 0 };

class Client {
  private socket: Socket | null = null;
  private ws: WebSocket | null = null;
  private readonly frame: Buffer;
  private readonly splitter: Splitter;
  private id = 0;
  private sentAt = 0;
  private greeted: (() => void) | null = null;

  constructor(
    private readonly wire: Wire,
    payload: Buffer,
  ) {
    this.frame = wire.request(payload);
    this.splitter = new Splitter(wire.lengthOffset, wire.lengthBase, this.onFrame);
  }

  /** Connect (and handshake when the protocol has one); rejects on error or timeout. */
  async open(target: Target, timeoutMs: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.close();
        reject(new Error("timeout"));
      }, timeoutMs);
      const done = (err?: Error) => {
        clearTimeout(timer);
        this.greeted = null;
        if (err) {
          this.close();
          reject(err);
        } else resolve();
      };
      const connected = (write: (b: Buffer) => void) => {
        if (this.wire.hello === null) return done();
        this.greeted = () => done();
        write(this.wire.hello);
      };
      if (this.wire.transport === "tcp") {
        const socket = connect({ host: HOST, port: target.port, noDelay: true });
        this.socket = socket;
        socket.on("data", (chunk: Buffer) => this.splitter.push(chunk));
        socket.once("connect", () => connected((b) => socket.write(b)));
        socket.on("error", (err) => done(err));
        socket.on("close", () => done(new Error("closed")));
      } else {
        // A zero mask (generateMask no-op) spares the client the random bytes; the server
        // unmasks every frame all the same.
        const ws = new WebSocket(`ws://${HOST}:${target.port}/`, { perMessageDeflate: false, generateMask: () => undefined });
        this.ws = ws;
        ws.on("message", (data: RawData) => {
          const buf = data as Buffer;
          this.onFrame(buf, 0, buf.length);
        });
        ws.once("open", () => connected((b) => ws.send(b)));
        ws.on("error", (err) => done(err));
        ws.on("close", () => done(new Error("closed")));
      }
    });
  }

  private readonly onFrame = (buf: Buffer, offset: number, _size: number): void => {
    if (this.greeted !== null) {
      if (this.wire.isHelloReply(buf, offset)) this.greeted();
      return;
    }
    if (!this.wire.isReply(buf, offset, this.id)) {
      errors++;
      return;
    }
    const now = performance.now();
    histogram.record((now - this.sentAt) * 1000);
    replies++;
    if (running) this.send(now);
  };

  send(now: number): void {
    this.id = this.id === 0xffff_ffff ? 1 : this.id + 1;
    this.wire.setId(this.frame, this.id);
    this.sentAt = now;
    if (this.socket !== null) this.socket.write(this.frame);
    else this.ws!.send(this.frame);
  }

  close(): void {
    this.socket?.destroy();
    this.ws?.terminate();
  }
}

let clients: Client[] = [];

/** Open `count` clients to a target, `batch` at a time. Keeps those that made it. */
async function open(args: Args): Promise<Opened> {
  const target: Target = { kind: args.kind as TargetKind, port: args.port as number };
  const count = args.count as number;
  const batch = (args.batch as number | undefined) ?? 500;
  const timeoutMs = (args.timeoutMs as number | undefined) ?? 10_000;
  const deadline = performance.now() + ((args.totalTimeoutMs as number | undefined) ?? 180_000);
  const wire = wireFor(target.kind);
  const payload = Buffer.alloc((args.payload as number | undefined) ?? 64, 0x61);
  return openInWaves(count, batch, () => new Client(wire, payload), (c) => c.open(target, timeoutMs), clients, deadline);
}

serveRpc(
  {},
  {
    open,
    start: () => {
      running = true;
      const now = performance.now();
      for (const c of clients) c.send(now);
    },
    mark: () => {
      histogram.reset();
      replies = 0;
      errors = 0;
      const { user, system } = process.cpuUsage();
      mark = { wallMs: performance.now(), cpuUs: user + system };
    },
    read: () => {
      const wallMs = performance.now() - mark.wallMs;
      const { user, system } = process.cpuUsage();
      return {
        requests: replies,
        errors,
        wallMs,
        cpuUs: user + system - mark.cpuUs,
        p50: histogram.quantile(0.5),
        p99: histogram.quantile(0.99),
        p999: histogram.quantile(0.999),
      };
    },
    close: async () => {
      running = false;
      // Let the replies in flight arrive so they do not count as errors of the next cell.
      await new Promise((resolve) => setTimeout(resolve, 50));
      for (const c of clients) c.close();
      clients = [];
    },
  },
);
