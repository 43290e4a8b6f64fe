// Every skip says why, once, on the test output (like HAProxy's reg-test runner), so a green run
// never hides a spec that did not run.
const announced = new Set<string>();

/** Returns `reason` unchanged, printing it the first time it is seen. */
export function announceSkip(reason: string | undefined): string | undefined {
  if (reason && !announced.has(reason)) {
    announced.add(reason);
    console.warn(`[skip] ${reason}`);
  }
  return reason;
}
