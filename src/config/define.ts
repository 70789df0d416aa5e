/**
 * The cluster config as written: Firefly's `config.json` keys plus glowfly's additions. Every key
 * is listed in docs/config.md ("Cluster config"). A `.ts` or `.js` cluster file default-exports
 * `defineConfig({ ... })`, which only types the object; validation happens when it is loaded.
 */
import type { CodecName } from "../protocol/index.ts";
import type { DbConfigInput, MemcachedConfigInput } from "./firefly.ts";
import type { LogLevel } from "../log/logger.ts";
import type { FireflyFrameInput, LimitsInput } from "./node-config.ts";
import type { SessionSettingsInput } from "./sessions.ts";

/** A log file path (Firefly), or a file and a level. Paths are relative to the config file. */
export type LogInput = string | { file?: string; level?: LogLevel };

/** A command id, or an inclusive `[first, last]` range of command ids. */
export type CommandRangeInput = number | readonly [number, number];
/** Which client commands a node forwards: every one, or a list of ids and ranges. */
export type CommandSetInput = "all" | readonly CommandRangeInput[];
/** `forward`: a command set (to the node's only root), or `{ to, commands }` naming the root. */
export type ForwardInput = CommandSetInput | { to: string; commands: CommandSetInput };

export interface RestartInput {
  /** This many crashes within `windowMs` stop the restarts (default 5). */
  maxCrashes?: number;
  /** Default 60000. */
  windowMs?: number;
  /** Delay before the first restart (default 500); doubles per crash in the window. */
  initialDelayMs?: number;
  /** Upper bound of the delay (default 30000). */
  maxDelayMs?: number;
}

export interface MasterConfigInput {
  /** Firefly: the master's root port, where nodes register (0 or absent: a free port). */
  rootport?: number;
  /** Firefly: the admin HTTP port (absent: no admin API). */
  webport?: number;
  /** Firefly: the host nodes use to reach the master; its rootport listens there (default 127.0.0.1). */
  roothost?: string;
  /** Firefly: the master's log file. */
  log?: LogInput;
  /** glowfly: interface the admin API (webport) binds (default 127.0.0.1). */
  host?: string;
  restart?: RestartInput;
  /** How long the master waits for nodes to stop before killing them (default 10000). */
  stopDeadlineMs?: number;
  /** File holding the admin API token (default `.glowfly/admin-token` next to the config file). */
  tokenFile?: string;
}

export interface RemotePortInput {
  /** The server this node links to; it must have a `rootport`. */
  rootname: string;
  /** Firefly: the root's rootport, repeated (must match it). Optional in glowfly. */
  rootport?: number;
  /** glowfly: host to reach the root at (default: the root server's `host`). */
  roothost?: string;
}

export interface ServerConfigInput {
  // Firefly keys
  /** Must equal the server's key if given (Firefly used it only when the launcher gave no name). */
  name?: string;
  /** Client TCP port; Firefly's 17-byte frame unless `frame` says "native". */
  netport?: number;
  /** Port children link to: makes this node a root. */
  rootport?: number;
  /** Links to roots. */
  remoteport?: readonly RemotePortInput[];
  /** HTTP port of the node (reserved; node HTTP is not built yet). */
  webport?: number;
  /** App module(s): a path relative to the config file, or a dotted name ("app.gateserver"). */
  app?: string | readonly string[];
  /** Module the master's reload command re-imports on this node (path or dotted name). */
  reload?: string;
  /** Role "db" (accepted; the SQL layer is not built yet). */
  db?: boolean;
  /** Role "cache" (accepted; the shared cache is not built yet). */
  mem?: boolean;
  log?: LogInput;
  /** CPU-affinity bitmask (accepted, not applied). */
  cpu?: number;
  // glowfly keys
  /** WebSocket client port (native frames). */
  wsport?: number;
  /** WebSocket upgrade path (default "/"). */
  wspath?: string;
  /** Interface every port of this node binds (default 127.0.0.1). */
  host?: string;
  /** Frame format of the netport (default "firefly"). */
  frame?: "firefly" | "native";
  /** Firefly frame constants of the netport (magic, versions, error replies). */
  firefly?: FireflyFrameInput;
  limits?: LimitsInput;
  codec?: CodecName;
  timeouts?: { rpcMs?: number; connectMs?: number };
  forward?: ForwardInput;
  maxConnections?: number;
  stopDeadlineMs?: number;
  /** Sessions on this node (a gateway; it needs a netport or wsport): `true` for the defaults, or settings. */
  sessions?: SessionSettingsInput | true;
}

export interface ClusterConfigInput {
  master?: MasterConfigInput;
  servers: Record<string, ServerConfigInput>;
  db?: DbConfigInput;
  memcached?: MemcachedConfigInput;
}

/** Types a cluster config written in TypeScript: `export default defineConfig({ servers: { ... } })`. */
export function defineConfig<const T extends ClusterConfigInput>(config: T): T {
  return config;
}
