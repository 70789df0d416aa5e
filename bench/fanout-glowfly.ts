/**
 * The glowfly gateway under fan-out: `node bench/fanout-glowfly.ts ws|net`. One session gateway
 * Node (codec "raw", silent logger) with one listener: WebSocket (`ws`) or native TCP (`net`).
 *
 * Every login is accepted (uid = the credential). The gateway is its own scene (docs/sessions.md:
 * "A gateway can be its own scene"): `sessions.scene` is the node's name, so the enter hook runs
 * here, in this process, and joins the session to channel "fanout" before the login is answered
 * — a client that has its login reply is a member. Only public API: `node.sessions.verify`,
 * `onEnter`, `onOffline`, `join`, `broadcast` and `pushChannel`.
 *
 * Sessions stay resumable (replay buffers on, as in production), but for 250 ms only: a
 * connection the orchestrator closes between phases ends its session (and leaves the channel)
 * soon after, so the next phase's channel holds only that phase's connections.
 */
import { Node, push, silentLogger } from "../src/index.ts";
import { serveFanout } from "./fanout-serve.ts";
import { FANOUT_COMMAND } from "./fanout-wire.ts";

const which = process.argv[2];
if (which !== "net" && which !== "ws") throw new Error(`usage: fanout-glowfly.ts ws|net (got ${which})`);

const NAME = "gateway";
const CHANNEL = "fanout";
const FanoutPush = push<Uint8Array>(FANOUT_COMMAND, { name: "fanout" });

const listener = { port: 0, host: "127.0.0.1" };
const node = new Node({
  config: {
    name: NAME,
    codec: "raw",
    ...(which === "net" ? { tcp: [{ ...listener, frame: "native" as const }] } : { ws: [listener] }),
    maxConnections: 50_000,
    // 10,000 idle clients must be neither pinged nor dropped during a run.
    limits: { heartbeatMs: 600_000, idleTimeoutMs: 1_200_000 },
    sessions: { scene: NAME, resumeWindowMs: 250, loginTimeoutMs: 60_000 },
  },
  logger: silentLogger,
});

/** Sessions in the channel (joined at enter, gone at offline: when the session ends). */
let joined = 0;
node.sessions.verify((credentials) => ({ uid: String(credentials) }));
node.sessions.onEnter(async (session) => {
  if (await node.sessions.join(session, CHANNEL)) joined++;
});
node.sessions.onOffline(() => {
  joined--;
});

const addresses = await node.start();
const port = addresses[0]?.port;
if (port === undefined) throw new Error("the gateway listens nowhere");

serveFanout({
  port,
  connections: () => joined,
  broadcast: (body) => {
    node.sessions.broadcast(FanoutPush, body);
    // Timed to the end of the event-loop turn: glowfly batches each connection's writes per turn.
    return { sent: joined, flushed: null };
  },
  channel: (body) => {
    node.sessions.pushChannel(CHANNEL, FanoutPush, body);
    return joined;
  },
});
