// The values go-yaml produces when it decodes into Go's `interface{}` (used by
// `overlay.options`). Go keeps distinct dynamic types (int, uint64, float64,
// time.Time, two map flavours) and each is written back differently, so the
// model keeps them apart instead of collapsing them into JS numbers.

export interface GoInt {
  readonly go: 'int';
  readonly value: bigint;
}

/** Only integers above int64's range decode as uint64. */
export interface GoUint {
  readonly go: 'uint64';
  readonly value: bigint;
}

export interface GoFloat {
  readonly go: 'float64';
  readonly value: number;
}

/** A time.Time, kept as the RFC 3339 text go-yaml writes back. */
export interface GoTime {
  readonly go: 'time';
  readonly text: string;
}

/** map[string]interface{}: every key of the source mapping was a string. */
export interface GoStringMap {
  readonly go: 'map[string]';
  readonly entries: Map<string, GoValue>;
}

/** map[interface{}]interface{}: at least one key was not a string. */
export interface GoAnyMap {
  readonly go: 'map[any]';
  readonly entries: Array<[GoValue, GoValue]>;
}

export type GoValue =
  | null
  | boolean
  | string
  | GoInt
  | GoUint
  | GoFloat
  | GoTime
  | GoValue[]
  | GoStringMap
  | GoAnyMap;

export const goInt = (value: bigint): GoInt => ({ go: 'int', value });
export const goUint = (value: bigint): GoUint => ({ go: 'uint64', value });
export const goFloat = (value: number): GoFloat => ({ go: 'float64', value });
export const goStringMap = (entries = new Map<string, GoValue>()): GoStringMap => ({
  go: 'map[string]',
  entries,
});

/** Go's == on interface values: same dynamic type and same value. */
export function goEqual(a: GoValue, b: GoValue): boolean {
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return a === b;
  if (Array.isArray(a) || Array.isArray(b)) return false; // unhashable in Go; never a key
  if (a.go !== b.go) return false;
  switch (a.go) {
    case 'int':
    case 'uint64':
      return a.value === (b as GoInt | GoUint).value;
    case 'float64':
      return a.value === (b as GoFloat).value;
    case 'time':
      return a.text === (b as GoTime).text;
    default:
      return false;
  }
}
