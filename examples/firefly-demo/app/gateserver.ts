/** The gate: answers 200 itself; everything else it has no handler for goes on to game1. */
import { defineApp } from "../../../src/index.ts";
import { GateHandle, text } from "./commands.ts";

export default defineApp((node) => {
  node.commands.handle(GateHandle, () => text("gateHandle Completed"));
});
