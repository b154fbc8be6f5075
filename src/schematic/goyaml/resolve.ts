// Implicit typing of scalars as go-yaml does it (YAML 1.1-flavoured core
// schema): which tag a plain scalar gets and which Go value it decodes to.
// The same function decides, on the way out, whether a string must be quoted.

import { type GoValue, goFloat, goInt, goUint } from './values.js';

export const TAG = {
  str: '!!str',
  int: '!!int',
  float: '!!float',
  bool: '!!bool',
  null: '!!null',
  timestamp: '!!timestamp',
  binary: '!!binary',
  merge: '!!merge',
  seq: '!!seq',
  map: '!!map',
} as const;

const LONG_PREFIX = 'tag:yaml.org,2002:';

/** `tag:yaml.org,2002:int` -> `!!int`; local tags stay as written. */
export function shortTag(tag: string): string {
  return tag.startsWith(LONG_PREFIX) ? `!!${tag.slice(LONG_PREFIX.length)}` : tag;
}

export interface Resolved {
  tag: string;
  value: GoValue;
}

/** Raised when an explicit tag contradicts the scalar (`!!int abc`). */
export class ResolveError extends Error {}

const MINUS_ZERO = -0;
const EXACT: ReadonlyMap<string, Resolved> = new Map<string, Resolved>([
  ...['true', 'True', 'TRUE'].map((s): [string, Resolved] => [s, { tag: TAG.bool, value: true }]),
  ...['false', 'False', 'FALSE'].map((s): [string, Resolved] => [s, { tag: TAG.bool, value: false }]),
  ...['', '~', 'null', 'Null', 'NULL'].map((s): [string, Resolved] => [s, { tag: TAG.null, value: null }]),
  ...['.nan', '.NaN', '.NAN'].map((s): [string, Resolved] => [s, { tag: TAG.float, value: goFloat(NaN) }]),
  ...['.inf', '.Inf', '.INF', '+.inf', '+.Inf', '+.INF'].map((s): [string, Resolved] => [
    s,
    { tag: TAG.float, value: goFloat(Infinity) },
  ]),
  ...['-.inf', '-.Inf', '-.INF'].map((s): [string, Resolved] => [s, { tag: TAG.float, value: goFloat(-Infinity) }]),
  ...['-0', '-0.0'].map((s): [string, Resolved] => [s, { tag: TAG.float, value: goFloat(MINUS_ZERO) }]),
  ['<<', { tag: TAG.merge, value: '<<' }],
]);

const RESOLVABLE = new Set<string>(['', TAG.str, TAG.bool, TAG.int, TAG.float, TAG.null, TAG.timestamp]);

/** What the first byte says a scalar might be. */
function hint(first: string | undefined): 'map' | 'float' | 'number' | undefined {
  if (first === undefined) return 'map'; // the empty string is null
  if ('yYnNtTfFoO~<'.includes(first)) return 'map';
  if (first === '.') return 'float';
  if (first === '+' || first === '-' || (first >= '0' && first <= '9')) return 'number';
  return undefined;
}

/**
 * Resolves `text` under `tag` ('' for an untagged plain scalar). Mirrors
 * go-yaml: an explicit resolvable tag that the text does not satisfy fails,
 * except an int under !!float, which becomes a float.
 */
export function resolve(tag: string, text: string): Resolved {
  tag = shortTag(tag);
  if (!RESOLVABLE.has(tag)) return { tag, value: text };
  const found = implicit(text, tag);
  if (tag === '' || tag === found.tag || tag === TAG.str) return found;
  if (tag === TAG.float && found.tag === TAG.int) {
    const v = found.value as { value: bigint };
    return { tag: TAG.float, value: goFloat(Number(v.value)) };
  }
  throw new ResolveError(`cannot construct ${found.tag} \`${text}\` as a ${tag}`);
}

function implicit(text: string, tag: string): Resolved {
  const kind = hint(text[0]);
  if (kind === undefined || tag === TAG.str) return { tag: TAG.str, value: text };
  const exact = EXACT.get(text);
  if (exact) return exact;
  if (kind === 'float') {
    const f = parseGoFloat(text);
    if (f !== undefined) return { tag: TAG.float, value: goFloat(f) };
  } else if (kind === 'number') {
    if (tag === '' || tag === TAG.timestamp) {
      const t = parseTimestamp(text);
      if (t !== undefined) return { tag: TAG.timestamp, value: { go: 'time', text: t } };
    }
    const plain = text.replaceAll('_', '');
    const n = parseGoInt(plain);
    if (n !== undefined) {
      if (n >= INT64_MIN && n <= INT64_MAX) return { tag: TAG.int, value: goInt(n) };
      if (n >= 0n && n <= UINT64_MAX && !plain.startsWith('+')) return { tag: TAG.int, value: goUint(n) };
    }
    if (YAML_STYLE_FLOAT.test(plain)) {
      const f = parseGoFloat(plain);
      if (f !== undefined) return { tag: TAG.float, value: goFloat(f) };
    }
  }
  return { tag: TAG.str, value: text };
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const YAML_STYLE_FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;
const GO_DECIMAL_FLOAT = /^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$/;

/** strconv.ParseInt(s, 0, ...) syntax, returning the exact value. */
function parseGoInt(s: string): bigint | undefined {
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$/.exec(s);
  if (!m) return undefined;
  const [, sign, digits = ''] = m;
  let value: bigint;
  if (/^0[oO]/.test(digits)) value = BigInt(`0o${digits.slice(2)}`);
  else if (/^0[0-7]+$/.test(digits)) value = BigInt(`0o${digits.slice(1)}`); // Go's leading-zero octal
  else value = BigInt(digits);
  return sign === '-' ? -value : value;
}

/** strconv.ParseFloat for decimal syntax: out-of-range values are errors. */
function parseGoFloat(s: string): number | undefined {
  if (!GO_DECIMAL_FLOAT.test(s)) return undefined;
  const f = Number(s);
  return Number.isFinite(f) ? f : undefined;
}

// The four layouts go-yaml tries, as patterns over Go's parse rules: a 4-digit
// year, 1-2 digit month/day/hour/minute/second, a fraction cut to 9 digits.
const DATE = '(\\d{4})-(\\d{1,2})-(\\d{1,2})';
const CLOCK = '(\\d{1,2}):(\\d{1,2}):(\\d{1,2})(?:[.,](\\d+))?';
const TIMESTAMP_LAYOUTS: readonly RegExp[] = [
  new RegExp(`^${DATE}[Tt]${CLOCK}(Z|[+-]\\d{2}:\\d{2})$`),
  new RegExp(`^${DATE} ${CLOCK}()$`),
  new RegExp(`^${DATE}()()()()()$`),
];

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/**
 * Parses a YAML timestamp the way go-yaml does and returns it formatted as
 * Go's time.RFC3339Nano (the machine's zone being UTC, as upstream runs).
 */
export function parseTimestamp(s: string): string | undefined {
  if (!/^\d{4}-/.test(s)) return undefined;
  for (const layout of TIMESTAMP_LAYOUTS) {
    const m = layout.exec(s);
    if (!m) continue;
    const [year, month, day, hour, minute, second] = m.slice(1, 7).map((v) => Number(v || '0')) as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const fraction = m[7] ?? '';
    const zone = m[8] ?? '';
    if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return undefined;
    if (day < 1 || day > daysInMonth(year, month)) return undefined;
    const frac = fraction.slice(0, 9).replace(/0+$/, '');
    const date = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}`;
    const clock = `${pad(hour, 2)}:${pad(minute, 2)}:${pad(second, 2)}${frac ? `.${frac}` : ''}`;
    const offset = zone === '' || zone === 'Z' || zone === '+00:00' || zone === '-00:00' ? 'Z' : zone;
    return `${date}T${clock}${offset}`;
  }
  return undefined;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] ?? 0);
}
