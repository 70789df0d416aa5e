/**
 * The registry: nodes link to the master's rootport (Firefly's master.rootport) and report
 * their status over that link. Links reconnect by themselves, so nodes reattach to a master
 * that restarts, and a node started on another host joins the same way.
 */
import type { Logger } from "../log/logger.ts";
import { RootServer, service, type RootClient } from "../rpc/index.ts";
import { LeaseTable } from "./leases.ts";
import { UidTable } from "./uids.ts";

/** What a node tells the master about itself, once a second. */
export interface NodeReport {
  name: string;
  pid: number;
  connections: number;
  inFlight: number;
  requests: number;
  rpcPending: number;
  rpcInFlight: number;
}

export const Report = service<[report: NodeReport], void>("glowfly.report");
export const StopNode = service<[deadlineMs: number], void>("glowfly.stopNode");
export const ReloadNode = service<[], void>("glowfly.reloadNode");

/** Environment variable that tells a spawned node where the registry is ("host:port"). */
export const MASTER_ENV = "GLOWFLY_MASTER";

export class Registry {
  private readonly server: RootServer;
  private readonly reports = new Map<string, NodeReport>();
  /** Entity leases of nodes whose ownership is "master" (src/master/leases.ts). */
  readonly leases: LeaseTable;
  /** Which gateway holds each logged-in uid (src/master/uids.ts). */
  readonly uids: UidTable;

  constructor(options: { host: string; port: number; log: Logger }) {
    this.server = new RootServer({ name: "master", host: options.host, port: options.port, logger: options.log });
    this.server.services.handle(Report, ([report], ctx) => {
      // A node reports under its own link name only: no node can speak for another.
      if (report.name === ctx.peer) this.reports.set(ctx.peer, report);
    });
    this.leases = new LeaseTable(this.server);
    this.uids = new UidTable(this.server);
  }

  listen(): Promise<{ host: string; port: number }> {
    return this.server.listen();
  }

  /** The last report of a node that is linked now, or undefined. */
  report(name: string): NodeReport | undefined {
    return this.server.child(name) === undefined ? undefined : this.reports.get(name);
  }

  joined(): string[] {
    return this.server.children();
  }

  /** Ask a linked node to stop gracefully; resolves when it acknowledged. */
  stopNode(name: string, deadlineMs: number): Promise<void> {
    return this.server.withTimeout(deadlineMs + 1000).callChild(name, StopNode, deadlineMs);
  }

  reload(name: string): boolean {
    return this.server.notifyChild(name, ReloadNode);
  }

  close(): Promise<void> {
    this.leases.close();
    return this.server.close();
  }
}

/** Node side: report to the master every `everyMs`, and obey its stop and reload. */
export function reportTo(link: RootClient, report: () => NodeReport, everyMs: number, on: { stop(deadlineMs: number): void; reload(): void }): () => void {
  link.services.handle(StopNode, ([deadlineMs]) => {
    // Answer first, then stop: the master waits for the acknowledgement, not for our exit.
    setImmediate(() => on.stop(deadlineMs));
  });
  link.services.handle(ReloadNode, () => on.reload());
  const send = () => {
    if (link.isOpen) link.notify(Report, report());
  };
  link.onStateChange((state) => {
    if (state === "open") send();
  });
  const timer = setInterval(send, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
