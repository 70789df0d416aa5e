/**
 * The echo example's commands, shared by the server app and its clients: declared once,
 * they type the handlers and the client calls.
 */
import { command, push } from "../../src/protocol/index.ts";

/** 1: echo the text back. */
export const Echo = command<{ text: string }, { text: string }>(1, { name: "echo" });
/** 2: add two numbers (shows a typed reply and an application error code). */
export const Add = command<{ a: number; b: number }, { sum: number }>(2, { name: "add" });
/** 3: say something to everyone connected; answered with how many got it. */
export const Say = command<{ from: string; text: string }, { delivered: number }>(3, { name: "say" });
/** 100: pushed to every client when someone uses Say. */
export const Said = push<{ from: string; text: string }>(100, { name: "said" });
