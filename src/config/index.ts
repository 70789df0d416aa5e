export * from "./node-config.ts";
export * from "./load.ts";
