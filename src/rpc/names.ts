/** Name rules shared by declarations and the wire, so a name accepted here is accepted by the peer. */

/** Longest node or cluster name accepted in a handshake. */
export const MAX_NODE_NAME = 128;
/** Longest service name (UTF-16 units); names travel in every call. */
export const MAX_SERVICE_NAME = 256;

/** A printable name: no control characters (they would garble logs), 1..max UTF-16 units. */
export function isValidName(name: unknown, max: number): name is string {
  if (typeof name !== "string" || name.length === 0 || name.length > max) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return false;
  }
  return true;
}
