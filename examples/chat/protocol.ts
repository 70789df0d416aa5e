/**
 * The chat room's commands and pushes, shared by the scenes, the gateway, the web page and the
 * terminal client. RedRabbit's chat demo, rebuilt on glowfly sessions (docs/sessions.md).
 */
import { command, push } from "../../src/protocol/index.ts";

export interface Line {
  from: string;
  text: string;
  /** The scene node that handled the message. */
  scene: string;
  at: number;
}
export interface Member {
  name: string;
  scene: string;
}

const MAX_TEXT = 500;
const isSay = (v: unknown): v is { text: string } =>
  typeof v === "object" && v !== null && typeof (v as { text?: unknown }).text === "string" && (v as { text: string }).text.trim().length > 0 && (v as { text: string }).text.length <= MAX_TEXT;

/** Send a line to the room (handled by the sender's scene). */
export const Say = command<{ text: string }, null>(1, { name: "say", validate: isSay });
/** Who is online (answered by the gateway, which holds the room's members). */
export const Who = command<null, Member[]>(2, { name: "who" });
/** Move to the other scene node (changeScene). */
export const Move = command<null, { scene: string }>(3, { name: "move" });

export const Said = push<Line>(101, { name: "said" });
export const Joined = push<Member>(102, { name: "joined" });
export const Left = push<{ name: string }>(103, { name: "left" });
export const Moved = push<Member>(104, { name: "moved" });

/** The channel everyone in the room is in. */
export const ROOM = "room";
