/** Command-line parsing for `glowfly`: small enough not to need a library. */
export const USAGE = `usage:
  glowfly start [config] [--node <name>]   start a node, or a cluster's master (config: glowfly.json or config.json)
  glowfly start [config] --master-only     start only the master; nodes join it from other hosts
  glowfly start [config] --node <name> --master <host:port>
                                           start one node that joins a master over the network
  glowfly status [config]                  show every node of a running cluster
  glowfly stop [config]                    stop a running cluster
  glowfly reload [config]                  re-import each node's reload module
  glowfly restart <node> [config]          restart one node
  glowfly help`;

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export interface Args {
  command: "start" | "status" | "stop" | "reload" | "restart" | "help";
  config?: string;
  node?: string;
  /** --master host:port: the registry a --node joins. */
  master?: string;
  masterOnly?: boolean;
}

export function parseArgs(argv: readonly string[]): Args {
  const [command, ...rest] = argv;
  const positional: string[] = [];
  let node: string | undefined;
  let master: string | undefined;
  let masterOnly = false;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] as string;
    if (arg === "--node") {
      node = rest[++i];
      if (node === undefined || node.startsWith("-")) throw new UsageError("--node needs a node name");
    } else if (arg === "--master") {
      master = rest[++i];
      if (master === undefined || master.startsWith("-")) throw new UsageError("--master needs host:port");
    } else if (arg === "--master-only") {
      masterOnly = true;
    } else if (arg.startsWith("-")) {
      throw new UsageError(`unknown option "${arg}"`);
    } else {
      positional.push(arg);
    }
  }
  switch (command) {
    case "start":
    case "status":
    case "stop":
    case "reload":
      if (positional.length > 1) throw new UsageError(`glowfly ${command} takes one config path, got ${positional.length}`);
      if ((node !== undefined || master !== undefined || masterOnly) && command !== "start") throw new UsageError(`--node, --master and --master-only go with start`);
      if (master !== undefined && node === undefined) throw new UsageError("--master goes with --node");
      if (masterOnly && node !== undefined) throw new UsageError("--master-only and --node exclude each other");
      return { command, config: positional[0], node, master, masterOnly };
    case "restart":
      if (positional.length < 1 || positional.length > 2) throw new UsageError("glowfly restart takes a node name and an optional config path");
      return { command, node: positional[0], config: positional[1] };
    case "help":
    case "--help":
    case "-h":
      return { command: "help" };
    case undefined:
      throw new UsageError("no command given");
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}
