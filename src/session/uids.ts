/**
 * Cluster-wide uid uniqueness, as the gateway sees it. Without a directory a gateway keeps uids
 * unique among its own sessions only; with one (the master's, src/node/master-uids.ts) a uid has
 * one session in the whole cluster.
 */
export interface UidDirectory {
  /**
   * Take `uid` for this gateway before creating its session. `ok: false` when another gateway
   * holds it and `refuseNew` is set, or when another gateway took it meanwhile; `holder` names
   * the other gateway when known.
   */
  claim(uid: string, refuseNew: boolean): Promise<{ ok: boolean; holder: string | null }>;
  /** This gateway has no session (and no login in progress) for `uid` any more. */
  free(uid: string): void;
  /** The gateway whose uids these are. */
  attach(gateway: UidHolder): void;
}

export interface UidHolder {
  /** `uid` logged in on another gateway: end the session here. */
  replaced(uid: string): void;
  /** The uids with a session here (claimed again after the directory was away). */
  held(): string[];
}
