// Numeric command-line options of the benches (`--runs 5`): the default when
// the flag is absent, a clear exit when its value is not a positive number.

export function numberOption(name: string, fallback: number): number {
  const argv = process.argv.slice(2);
  const at = argv.indexOf(name);
  if (at < 0) return fallback;
  const value = Number(argv[at + 1]);
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`${name} takes a positive number, got ${JSON.stringify(argv[at + 1] ?? '')}`);
    process.exit(2);
  }
  return value;
}
