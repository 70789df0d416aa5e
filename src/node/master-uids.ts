/**
 * One session per uid across the cluster through the master (src/master/uids.ts), over the
 * gateway's registry link. With the master away, logins go on (availability first) and the
 * gateway claims its uids back when the link returns; those another gateway took meanwhile
 * end here.
 */
import { ClaimUid, FreeUid, ReclaimUids, ReplaceUid } from "../master/uids.ts";
import type { RootClient } from "../rpc/index.ts";
import type { Logger } from "../log/logger.ts";
import type { UidDirectory, UidHolder } from "../session/uids.ts";

export class MasterUids implements UidDirectory {
  private gateway: UidHolder | null = null;
  /**
   * Per uid with claims in flight: how many, and the newest grant a ReplaceUid has voided. A
   * notice runs as soon as it is read, before the await of a claim answered earlier resumes, so
   * a grant is checked against the replaces seen meanwhile by its number.
   */
  private readonly inFlight = new Map<string, { claims: number; voidUpTo: number }>();

  constructor(
    private readonly link: RootClient,
    private readonly log: Logger,
  ) {
    link.services.handle(ReplaceUid, ([uid, grant]) => {
      const flight = this.inFlight.get(uid);
      if (flight !== undefined) flight.voidUpTo = Math.max(flight.voidUpTo, grant);
      this.gateway?.replaced(uid);
    });
    link.onStateChange((state) => {
      if (state === "open") this.reclaim();
    });
  }

  attach(gateway: UidHolder): void {
    this.gateway = gateway;
  }

  async claim(uid: string, refuseNew: boolean): Promise<{ ok: boolean; holder: string | null }> {
    let flight = this.inFlight.get(uid);
    if (flight === undefined) {
      flight = { claims: 0, voidUpTo: 0 };
      this.inFlight.set(uid, flight);
    }
    flight.claims++;
    try {
      const answer = await this.link.call(ClaimUid, uid, refuseNew);
      if (!answer.ok) return { ok: false, holder: answer.holder };
      // Replaced before this answer was seen: another gateway has the uid now.
      return answer.grant > flight.voidUpTo ? { ok: true, holder: null } : { ok: false, holder: null };
    } catch (err) {
      this.log.warn("uid not checked with the master (claimed when it is back)", { error: err instanceof Error ? err.message : String(err) });
      return { ok: true, holder: null };
    } finally {
      if (--flight.claims === 0) this.inFlight.delete(uid);
    }
  }

  free(uid: string): void {
    if (this.link.isOpen) this.link.notify(FreeUid, uid);
  }

  private reclaim(): void {
    const uids = this.gateway?.held() ?? [];
    if (uids.length === 0) return;
    this.link.call(ReclaimUids, uids).then(
      (lost) => {
        if (lost.length > 0) this.log.warn("uids logged in on other gateways while the master was away", { uids: lost.length });
        for (const uid of lost) this.gateway?.replaced(uid);
      },
      (err: unknown) => this.log.warn("could not claim uids back from the master", { error: err instanceof Error ? err.message : String(err) }),
    );
  }
}
