export * from "./limits.ts";
export * from "./socket.ts";
export * from "./connection.ts";
export * from "./hub.ts";
export * from "./acceptors.ts";
