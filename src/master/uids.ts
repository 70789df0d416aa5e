/**
 * One session per uid across the gateways of a cluster (docs/sessions.md, "Duplicate logins"):
 * the master keeps which gateway holds each logged-in uid. A gateway claims a uid before it
 * creates the session; with `duplicateLogin: "kickOld"` the master tells the previous gateway
 * to end its session (kick Replaced), with "refuseNew" it refuses the claim. A gateway whose link
 * drops loses its entries; when it links again it claims back the uids it still holds, and
 * those taken meanwhile by another gateway are ended there.
 */
import { service, type RootServer } from "../rpc/index.ts";
import { checkTableKey } from "./leases.ts";

/**
 * Gateway → master: take `uid` (refuseNew: fail if another gateway holds it). A grant carries a
 * number that rises with every grant, so a gateway can tell a grant from before a ReplaceUid
 * (void) from one after it.
 */
export const ClaimUid = service<[uid: string, refuseNew: boolean], { ok: boolean; holder: string | null; grant: number }>("glowfly.uid.claim");
/** Gateway → master: this gateway has no session for `uid` any more. */
export const FreeUid = service<[uid: string], void>("glowfly.uid.free");
/** Gateway → master, after (re)linking: the uids it holds; answers those another gateway has taken. */
export const ReclaimUids = service<[uids: string[]], string[]>("glowfly.uid.reclaim");
/** Master → gateway: `uid` logged in on another gateway; end the session here. `grant`: the replaced grant's number. */
export const ReplaceUid = service<[uid: string, grant: number], void>("glowfly.uid.replace");

export class UidTable {
  private readonly holders = new Map<string, { gateway: string; grant: number }>();
  private readonly byGateway = new Map<string, Set<string>>();
  private grants = 0;

  constructor(
    private readonly server: RootServer,
    /** Bound of the table; past it new claims are refused. */
    private readonly maxUids = 1_000_000,
  ) {
    server.services.handle(ClaimUid, ([uid, refuseNew], ctx) => this.claim(checkUid(uid), refuseNew === true, ctx.peer));
    server.services.handle(FreeUid, ([uid], ctx) => this.free(checkUid(uid), ctx.peer));
    server.services.handle(ReclaimUids, ([uids], ctx) => (Array.isArray(uids) ? uids.map(checkUid).filter((uid) => !this.reclaim(uid, ctx.peer)) : []));
    // The sessions of a gateway that lost its link are gone, or it claims them back when it returns.
    server.onChildLost((gateway) => {
      for (const uid of this.byGateway.get(gateway) ?? []) if (this.holders.get(uid)?.gateway === gateway) this.holders.delete(uid);
      this.byGateway.delete(gateway);
    });
  }

  get size(): number {
    return this.holders.size;
  }

  holder(uid: string): string | undefined {
    return this.holders.get(uid)?.gateway;
  }

  private claim(uid: string, refuseNew: boolean, gateway: string): { ok: boolean; holder: string | null; grant: number } {
    const held = this.holders.get(uid);
    if (held !== undefined && held.gateway !== gateway) {
      if (refuseNew) return { ok: false, holder: held.gateway, grant: 0 };
      this.server.notifyChild(held.gateway, ReplaceUid, uid, held.grant);
      this.byGateway.get(held.gateway)?.delete(uid);
    } else if (held === undefined && this.holders.size >= this.maxUids) {
      return { ok: false, holder: null, grant: 0 };
    }
    return { ok: true, holder: gateway, grant: this.set(uid, gateway) };
  }

  private reclaim(uid: string, gateway: string): boolean {
    const held = this.holders.get(uid);
    if (held !== undefined && held.gateway !== gateway) return false;
    if (held === undefined && this.holders.size >= this.maxUids) return false;
    this.set(uid, gateway);
    return true;
  }

  private free(uid: string, gateway: string): void {
    if (this.holders.get(uid)?.gateway !== gateway) return;
    this.holders.delete(uid);
    this.byGateway.get(gateway)?.delete(uid);
  }

  private set(uid: string, gateway: string): number {
    const grant = ++this.grants;
    this.holders.set(uid, { gateway, grant });
    let uids = this.byGateway.get(gateway);
    if (uids === undefined) {
      uids = new Set();
      this.byGateway.set(gateway, uids);
    }
    uids.add(uid);
    return grant;
  }
}

/** Gateways check uids at 128 bytes; the master refuses what no gateway would send. */
const checkUid = (uid: unknown): string => checkTableKey(uid, "a uid");
