/**
 * The typed errors of the SQL layer. Each message says what is wrong and what to do; none
 * repeats a password.
 */

/** A db setting (URL or Firefly block) is malformed: `issues` name each key and what was expected. */
export class DbConfigError extends Error {
  override readonly name = "DbConfigError";
  constructor(readonly issues: readonly string[]) {
    super(`invalid db settings:\n  ${issues.join("\n  ")}`);
  }
}

/** The database did not answer at start (refused, unknown host, bad login, or no answer in time). */
export class DbConnectError extends Error {
  override readonly name = "DbConnectError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A declared table cannot be synced without losing or retyping data: `problems` lists each one and what to do. */
export class SchemaError extends Error {
  override readonly name = "SchemaError";
  constructor(readonly problems: readonly string[]) {
    super(`schema sync refused, nothing was changed:\n  ${problems.join("\n  ")}`);
  }
}

/** A row, patch or primary key does not match its table declaration; found before any SQL is sent. */
export class RowValidationError extends Error {
  override readonly name = "RowValidationError";
  constructor(
    readonly table: string,
    readonly problems: readonly string[],
  ) {
    super(`${table}: ${problems.join("; ")}`);
  }
}

/** A table declaration itself is wrong (bad name, unknown primary key column, unindexable column). */
export class TableDefinitionError extends Error {
  override readonly name = "TableDefinitionError";
}

/**
 * A message for a thrown value. Drivers throw Errors, but not always, and a refused connection
 * to a name with several addresses is an AggregateError with an empty message of its own.
 */
export function reasonOf(error: unknown): string {
  if (error instanceof AggregateError && error.message === "") return [...new Set(error.errors.map(reasonOf))].join("; ");
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return error.message === "" && typeof code === "string" ? code : error.message;
}

/** The database refused one change of a batch; the rest of the batch was applied. */
export class ChangeRejectedError extends Error {
  override readonly name = "ChangeRejectedError";
  /** The driver's code: SQLSTATE (PostgreSQL), errno name (MySQL), SQLITE_* (SQLite). */
  readonly code: string | undefined;
  constructor(cause: unknown) {
    const e = cause as { code?: unknown; detail?: unknown } | null;
    // PostgreSQL keeps the offending key in `detail` ("Key (name)=(bob) already exists.").
    const detail = typeof e?.detail === "string" ? ` (${e.detail})` : "";
    super(`${reasonOf(cause)}${detail}`, { cause });
    this.code = typeof e?.code === "string" ? e.code : undefined;
  }
}

/** applyBatch could not run (connection lost, timeout, deadlock): the transaction was rolled back and nothing applied. */
export class BatchFailedError extends Error {
  override readonly name = "BatchFailedError";
}
