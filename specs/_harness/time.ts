// One time scale for every deadline in the specs. A slow machine sets CONNLAB_TIME_SCALE=3 and every
// wait, timeout and scaled duration stretches with it; nothing else in a spec names a raw timeout
// unless time is the subject.
// Values below 1 shorten waits, for runs that expect failures (specs/meta).
export const TIME_SCALE = Math.max(0.1, Number(process.env.CONNLAB_TIME_SCALE ?? '1') || 1);

/** A deadline in milliseconds, stretched by the time scale. */
export function scaled(ms: number): number {
  return Math.round(ms * TIME_SCALE);
}

/** The deadline a wait gets when it does not say. */
export const DEFAULT_WAIT_MS = scaled(5000);
