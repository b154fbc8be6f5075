// One rule for every test that needs a host tool or file: a local run may skip
// it, saying what to install; in CI (CI set, as .ci/run does) a missing tool is
// a failure, so a run that proves nothing can never pass as green.

/** Passes a skip reason through, or throws it when running in CI. */
export function skipUnlessCi(reason: string | undefined): string | undefined {
  if (reason === undefined) return undefined;
  if (process.env.CI) throw new Error(`${reason}; CI must provide it (add it to .ci/run)`);
  console.warn(`skipped locally: ${reason}`);
  return reason;
}
