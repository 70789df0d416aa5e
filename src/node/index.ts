export * from "./node.ts";
export * from "./app.ts";
export * from "./registry.ts";
