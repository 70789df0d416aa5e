/**
 * The server side every fan-out server kind shares: its process answers the orchestrator's
 * `conns`, `broadcast` and `channel` commands (bench/rpc.ts), and this module does the timing,
 * the CPU accounting and the channel timer. A server kind only supplies a FanoutAdapter: how
 * to send one body to every connection (broadcast) and to every channel member (channel).
 */
import { serveRpc } from "./rpc.ts";
import { fanoutBody, mono, openFileLimit, type BroadcastResult, type ChannelResult } from "./fanout-wire.ts";

export interface FanoutAdapter {
  /** The port the clients connect to. */
  port: number;
  /** Connections ready to receive (for a gateway: logged-in sessions, in the channel). */
  connections(): number;
  /**
   * Send `body` to every connection. `flushed` resolves once every write has been handed to
   * the kernel, when the kind can tell (write callbacks); with null the time is taken at the
   * end of the event-loop turn (after a framework's own end-of-turn write batching).
   */
  broadcast(body: Buffer): { sent: number; flushed: Promise<void> | null };
  /** Send `body` to every member of the channel; returns how many. */
  channel(body: Buffer): number;
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

function cpuUs(since: NodeJS.CpuUsage): number {
  const { user, system } = process.cpuUsage(since);
  return user + system;
}

async function broadcast(adapter: FanoutAdapter, round: number): Promise<BroadcastResult> {
  // Garbage of the previous round is collected now, not inside the measured loop.
  globalThis.gc?.();
  await turn();
  const cpu0 = process.cpuUsage();
  const sentAt = mono();
  const { sent, flushed } = adapter.broadcast(fanoutBody(sentAt, round));
  const loopEnd = mono();
  if (flushed === null) await turn();
  else await flushed;
  const flushEnd = mono();
  return {
    sent,
    sentAt,
    loopMs: loopEnd - sentAt,
    flushMs: flushEnd - sentAt,
    flushBy: flushed === null ? "end of the event-loop turn" : "write callbacks",
    cpuUs: cpuUs(cpu0),
  };
}

/**
 * `ratePerS` messages a second to every member for `durationMs`, each body stamped with its
 * send time. Ticks follow a fixed schedule (a late timer shortens the next wait); a tick more
 * than one period late drops its missed slots instead of bursting, so the rate sent is reported.
 */
async function channel(adapter: FanoutAdapter, ratePerS: number, durationMs: number): Promise<ChannelResult> {
  globalThis.gc?.();
  await turn();
  const period = 1000 / ratePerS;
  const cpu0 = process.cpuUsage();
  const start = mono();
  let due = start;
  let messages = 0;
  let members = 0;
  let sendMs = 0;
  let maxLateMs = 0;
  return new Promise<ChannelResult>((resolve) => {
    const tick = () => {
      const now = mono();
      if (now - start >= durationMs) {
        resolve({ members, messages, wallMs: now - start, cpuUs: cpuUs(cpu0), sendMs, maxLateMs });
        return;
      }
      maxLateMs = Math.max(maxLateMs, now - due);
      members = adapter.channel(fanoutBody(now, 0));
      messages++;
      const after = mono();
      sendMs += after - now;
      due += period;
      if (due < after) due = after;
      setTimeout(tick, Math.max(0, due - after));
    };
    tick();
  });
}

export function serveFanout(adapter: FanoutAdapter): void {
  serveRpc(
    { ports: { main: adapter.port }, nofile: openFileLimit() },
    {
      conns: () => adapter.connections(),
      broadcast: (args) => broadcast(adapter, args.round as number),
      channel: (args) => channel(adapter, args.ratePerS as number, args.durationMs as number),
    },
  );
}
