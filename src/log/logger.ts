/**
 * A small structured logger. Every node owns one (no global logger), so logs of several nodes
 * in one process stay apart. Swap it for pino or anything else by implementing `Logger`.
 */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";
export type LogFields = Record<string, string | number | boolean | undefined>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface ConsoleLoggerOptions {
  level?: LogLevel;
  /** Where lines go (default: stderr for warn/error, stdout otherwise). */
  write?: (level: LogLevel, line: string) => void;
}

function defaultWrite(level: LogLevel, line: string): void {
  if (RANK[level] >= RANK.warn) process.stderr.write(line + "\n");
  else process.stdout.write(line + "\n");
}

function format(fields: LogFields): string {
  let out = "";
  for (const key in fields) {
    const value = fields[key];
    if (value === undefined) continue;
    out += ` ${key}=${typeof value === "string" && /\s/.test(value) ? JSON.stringify(value) : String(value)}`;
  }
  return out;
}

/** Plain text lines: `time level message key=value …`. */
export function consoleLogger(options: ConsoleLoggerOptions = {}, base: LogFields = {}): Logger {
  const threshold = RANK[options.level ?? "info"];
  const write = options.write ?? defaultWrite;
  const log = (level: LogLevel) => (message: string, fields?: LogFields) => {
    if (RANK[level] < threshold) return;
    write(level, `${new Date().toISOString()} ${level.padEnd(5)} ${message}${format(base)}${fields ? format(fields) : ""}`);
  };
  return {
    debug: log("debug"),
    info: log("info"),
    warn: log("warn"),
    error: log("error"),
    child: (fields) => consoleLogger(options, { ...base, ...fields }),
  };
}

/** Drops everything; for benchmarks and quiet tests. */
export const silentLogger: Logger = consoleLogger({ level: "silent" });
