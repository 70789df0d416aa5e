/** Command-line options of `npm run bench`. */
export interface Options {
  write: boolean;
  load: boolean;
  idle: boolean;
  profile: boolean;
  warmupMs: number;
  measureMs: number;
  /** Each cell is measured this many times (interleaved); the table shows the median. */
  rounds: number;
  clients: number[];
  idleCount: number;
  /** Seconds the run may spend in total waiting for other processes to leave the CPUs alone. */
  waitQuietS: number;
  only: string[] | null;
  payload: number;
  /** The data-layer section (bench/data.ts): runs in a full run and with --only=data. */
  data: boolean;
  dataBackends: string[];
  /** Write-back rows per kind; replay uses twice as many changes, reads and updates min(10,000, this). */
  dataRows: number;
  /** Measured time per data read and update cell. */
  dataMs: number;
  /** The fan-out section (bench/fanout.ts): runs in a full run and with --only=fanout. */
  fanout: boolean;
  /** Fan-out server kinds (bench/fanout-kinds.ts), or null for all. */
  fanoutKinds: string[] | null;
  /** Connections one message is broadcast to, and how many times. */
  fanoutConns: number;
  fanoutRounds: number;
  /** Channel load: members, messages/s to each, and for how long. */
  fanoutMembers: number;
  fanoutRate: number;
  fanoutMs: number;
  /** Client processes the fan-out connections are spread over. */
  fanoutLoaders: number;
}

export const USAGE = `npm run bench -- [--quick] [--write] [--no-load] [--no-idle] [--rounds=N]
    [--warmup=ms] [--measure=ms] [--clients=100,1000] [--idle=19000]
    [--only=raw-net,native,firefly,raw-ws,glowfly-ws,forwarded,data,fanout] [--wait-quiet[=seconds]] [--profile]
    [--no-data] [--data-backends=sqlite,postgres,mysql] [--data-rows=50000] [--data-ms=1000]
    [--no-fanout] [--fanout-kinds=raw-net,raw-ws] [--fanout-conns=10000] [--fanout-rounds=5]
    [--fanout-members=1000] [--fanout-rate=100] [--fanout-ms=10000] [--fanout-loaders=1]
  --only=forwarded also measures raw-net and native: the forwarded path is compared with them.
  --only=data runs only the data-layer section (in this process; no servers, no load generator).
  --only=fanout runs only the fan-out section (its own server and client processes).`;

export function parseOptions(argv: readonly string[]): Options {
  const flag = (name: string) => argv.includes(`--${name}`);
  const value = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const num = (name: string, fallback: number) => {
    const v = value(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} wants a number, got ${v}\n${USAGE}`);
    return n;
  };
  const quick = flag("quick");
  const clients = (value("clients") ?? "100,1000").split(",").map(Number);
  if (clients.some((c) => !Number.isInteger(c) || c < 1)) throw new Error(`--clients wants positive integers\n${USAGE}`);
  return {
    write: flag("write"),
    load: !flag("no-load"),
    idle: !flag("no-idle"),
    profile: flag("profile"),
    warmupMs: num("warmup", quick ? 500 : 1000),
    measureMs: num("measure", quick ? 1000 : 5000),
    rounds: Math.max(1, Math.round(num("rounds", quick ? 1 : 3))),
    clients,
    idleCount: num("idle", 19_000),
    waitQuietS: flag("wait-quiet") ? 600 : num("wait-quiet", 0),
    only: value("only")?.split(",") ?? null,
    payload: 64,
    data: !flag("no-data"),
    dataBackends: (value("data-backends") ?? "sqlite,postgres,mysql").split(","),
    dataRows: Math.max(10, Math.round(num("data-rows", quick ? 10_000 : 50_000))),
    dataMs: num("data-ms", quick ? 300 : 1000),
    fanout: !flag("no-fanout"),
    fanoutKinds: value("fanout-kinds")?.split(",") ?? null,
    fanoutConns: Math.round(num("fanout-conns", 10_000)),
    fanoutRounds: Math.round(num("fanout-rounds", quick ? 2 : 5)),
    fanoutMembers: Math.round(num("fanout-members", 1_000)),
    fanoutRate: num("fanout-rate", 100),
    fanoutMs: num("fanout-ms", quick ? 2000 : 10_000),
    fanoutLoaders: Math.max(1, Math.round(num("fanout-loaders", 1))),
  };
}
