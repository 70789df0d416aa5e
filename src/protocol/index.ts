export * from "./message.ts";
export * from "./errors.ts";
export * from "./frame.ts";
export * from "./native.ts";
export * from "./firefly.ts";
export * from "./codec.ts";
export * from "./command.ts";
export * from "./handshake.ts";
