/**
 * The commands of the Firefly demo (seed 001): Firefly clients send raw bytes, so every
 * command uses the raw codec.
 */
import { command } from "../../../src/protocol/index.ts";

/** Answered by the net node itself. */
export const NetHandle = command<Uint8Array, Uint8Array>(100, { codec: "raw", name: "netHandle_100" });
/** Forwarded by net to the gate, which answers it. */
export const GateHandle = command<Uint8Array, Uint8Array>(200, { codec: "raw", name: "gateHandle" });
/** Forwarded by net through the gate to game1. */
export const Game1Handle = command<Uint8Array, Uint8Array>(300, { codec: "raw", name: "game1Handle" });

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
