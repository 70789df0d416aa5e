/**
 * Open many clients a wave at a time (a whole wave in parallel, waves one after another), keeping
 * those that made it: what the load generators do before they measure.
 */
export interface Opened {
  held: number;
  failed: number;
  firstError: string | null;
  ms: number;
}

export async function openInWaves<C>(
  count: number,
  batch: number,
  make: (index: number) => C,
  open: (client: C) => Promise<void>,
  keep: C[],
  deadline = Number.POSITIVE_INFINITY,
): Promise<Opened> {
  const started = performance.now();
  let failed = 0;
  let firstError: string | null = null;
  for (let opened = 0; opened < count && performance.now() < deadline; ) {
    const n = Math.min(batch, count - opened);
    const wave = Array.from({ length: n }, (_, i) => make(opened + i));
    const results = await Promise.allSettled(wave.map(open));
    results.forEach((r, i) => {
      if (r.status === "fulfilled") keep.push(wave[i]!);
      else {
        failed++;
        firstError ??= r.reason instanceof Error ? r.reason.message : String(r.reason);
      }
    });
    opened += n;
  }
  return { held: keep.length, failed, firstError, ms: Math.round(performance.now() - started) };
}
