// A kernel command line with the semantics of go-procfs' Cmdline, which is
// what Talos' imager builds command lines with: parameters are grouped by key
// and printed in the order their keys were first seen, a key may carry several
// values, and a value-less parameter (`k` or `k=`) prints as a bare `k`.
// Byte-exact output matters: the command line is a user-visible asset and is
// embedded in UKIs.

/** Go's unicode.IsSpace set, which strings.Fields splits on (JS's \s differs: it has U+FEFF, lacks U+0085). */
const GO_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;

interface Parameter {
  key: string;
  values: string[];
}

export interface AppendAllOptions {
  /** Keys whose values the new arguments replace (all of them) instead of extending. */
  overwrite?: readonly string[];
  /** `-key` deletes the key, `-key=value` deletes that one value. */
  deleteNegated?: boolean;
}

/** Keys that user-supplied arguments overwrite rather than extend (Talos' imager). */
export const USER_OVERWRITE_KEYS: readonly string[] = ['console', 'talos.platform'];

/** Splits arguments into parameters grouped by key, in first-seen key order. */
function parseParameters(text: string): Parameter[] {
  const line = text.endsWith('\n') ? text.slice(0, -1) : text;
  const parsed: Parameter[] = [];
  for (const field of line.split(GO_SPACE)) {
    if (field === '') continue;
    const eq = field.indexOf('=');
    const key = eq < 0 ? field : field.slice(0, eq);
    const value = eq < 0 ? '' : field.slice(eq + 1);
    const existing = parsed.find((p) => p.key === key);
    if (existing) existing.values.push(value);
    else parsed.push({ key, values: [value] });
  }
  return parsed;
}

export class Cmdline {
  #params: Parameter[];

  private constructor(params: Parameter[]) {
    this.#params = params;
  }

  /** Parses a command line (one trailing newline is ignored, as for /proc/cmdline). */
  static parse(text: string): Cmdline {
    return new Cmdline(parseParameters(text));
  }

  static empty(): Cmdline {
    return new Cmdline([]);
  }

  /** The values of a key, or undefined when the key is absent. A deleted-to-empty key is present with no values. */
  get(key: string): readonly string[] | undefined {
    return this.#params.find((p) => p.key === key)?.values.slice();
  }

  /** Keys in print order. */
  keys(): string[] {
    return this.#params.map((p) => p.key);
  }

  /** Replaces all values of a key, keeping its position; a new key goes last. */
  set(key: string, values: readonly string[]): void {
    const index = this.#params.findIndex((p) => p.key === key);
    const param = { key, values: [...values] };
    if (index >= 0) this.#params[index] = param;
    else this.#params.push(param);
  }

  /** Parses the arguments (grouped by key) and sets each key to its values. */
  setAll(args: readonly string[]): void {
    for (const p of parseParameters(args.join(' '))) this.set(p.key, p.values);
  }

  /** Adds one value to a key (a new key goes last); '' is a bare key. */
  append(key: string, value: string): void {
    const existing = this.#params.find((p) => p.key === key);
    if (existing) existing.values.push(value);
    else this.#params.push({ key, values: [value] });
  }

  /**
   * Removes the given values from a key. The key keeps its position even when
   * no value is left (it then prints nothing), so a later append lands there.
   */
  delete(key: string, values: readonly string[]): void {
    const existing = this.#params.find((p) => p.key === key);
    if (existing) existing.values = existing.values.filter((v) => !values.includes(v));
  }

  /** Removes a key and its position. */
  deleteAll(key: string): void {
    const index = this.#params.findIndex((p) => p.key === key);
    if (index >= 0) this.#params.splice(index, 1);
  }

  /**
   * Appends arguments. They are parsed and grouped by key first, then applied
   * key by key, so `a=1 -a a=2` groups as a=[1,2] then -a (which deletes both).
   */
  appendAll(args: readonly string[], options: AppendAllOptions = {}): void {
    const overwrite = options.overwrite ?? [];
    for (const p of parseParameters(args.join(' '))) {
      // A lone `-` is a valid kernel argument, not a negation.
      if (options.deleteNegated && p.key.length > 1 && p.key.startsWith('-')) {
        const target = p.key.slice(1);
        if (p.values[0] === '') this.deleteAll(target);
        else this.delete(target, p.values);
        continue;
      }
      if (overwrite.includes(p.key)) {
        this.set(p.key, p.values);
        continue;
      }
      for (const value of p.values) this.append(p.key, value);
    }
  }

  /** Applies user extra arguments the way Talos' imager does (console and talos.platform overwrite, `-` negates). */
  applyUserArgs(args: readonly string[]): void {
    this.appendAll(args, { overwrite: USER_OVERWRITE_KEYS, deleteNegated: true });
  }

  toString(): string {
    let out = '';
    for (const p of this.#params) {
      for (const value of p.values) out += value === '' ? `${p.key} ` : `${p.key}=${value} `;
    }
    return out.replace(/ +$/, '');
  }

  /** The printed form split on single spaces (go-procfs' Strings). */
  strings(): string[] {
    return this.toString().split(' ');
  }

  clone(): Cmdline {
    return new Cmdline(this.#params.map((p) => ({ key: p.key, values: [...p.values] })));
  }
}
