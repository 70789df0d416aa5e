/** game1: answers 300, reached through net → gate → game1. */
import { defineApp } from "../../../src/index.ts";
import { Game1Handle, text } from "./commands.ts";

export default defineApp((node) => {
  node.commands.handle(Game1Handle, () => text("game1Handle completed"));
});
