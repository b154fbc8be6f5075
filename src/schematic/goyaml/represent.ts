// Turns decoded values back into emitter nodes the way go-yaml's representer
// and desolver do: omitempty, struct field order, natural map-key order, Go's
// number formatting, and the quoting a string needs to stay a string.

import type { OutNode } from './emit.js';
import { resolve, TAG } from './resolve.js';
import type { GoType } from './types.js';
import type { GoValue } from './values.js';

const BASE60_FLOAT = /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/;
const OLD_BOOLS = new Set(['y', 'Y', 'yes', 'Yes', 'YES', 'on', 'On', 'ON', 'n', 'N', 'no', 'No', 'NO', 'off', 'Off', 'OFF']);

/** Go's unicode.IsSpace. */
const GO_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;

function shouldUseLiteral(s: string): boolean {
  if (!s.includes('\n') || Buffer.byteLength(s, 'utf8') < 2) return false;
  for (const c of s) if (!GO_SPACE.test(c)) return true;
  return false;
}

/** A Go string: plain unless it would read back as something else. */
export function stringNode(s: string): OutNode {
  if (s.includes('\n')) return { kind: 'scalar', value: s, style: shouldUseLiteral(s) ? 'literal' : 'double' };
  if (OLD_BOOLS.has(s) || s === '<<' || BASE60_FLOAT.test(s)) {
    return { kind: 'scalar', value: s, style: 'single' };
  }
  return { kind: 'scalar', value: s, style: resolve('', s).tag === TAG.str ? 'plain' : 'double' };
}

const plain = (value: string): OutNode => ({ kind: 'scalar', value, style: 'plain' });

/** strconv.FormatFloat(f, 'g', -1, 64), with YAML's names for the non-finite values. */
export function formatGoFloat(f: number): string {
  if (Number.isNaN(f)) return '.nan';
  if (f === Infinity) return '.inf';
  if (f === -Infinity) return '-.inf';
  if (f === 0) return Object.is(f, -0) ? '-0' : '0';
  const sign = f < 0 ? '-' : '';
  const [mantissa = '', expText = '0'] = Math.abs(f).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const exp = Number(expText);
  if (exp < -4 || exp >= 6) {
    const frac = digits.length > 1 ? `.${digits.slice(1)}` : '';
    const expAbs = String(Math.abs(exp)).padStart(2, '0');
    return `${sign}${digits[0]}${frac}e${exp < 0 ? '-' : '+'}${expAbs}`;
  }
  const point = exp + 1; // digits before the decimal point
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** go-yaml's isZero, used for omitempty. */
function isZero(value: unknown, t: GoType): boolean {
  switch (t.kind) {
    case 'struct': {
      const record = value as Record<string, unknown>;
      return t.fields.every((f) => isZero(record[f.key], f.type));
    }
    case 'slice':
      return value === null || (value as unknown[]).length === 0;
    case 'stringMap':
      return value === null || (value as { entries: Map<string, unknown> }).entries.size === 0;
    case 'anyMap':
      return value === null || (value as { entries: unknown[] }).entries.length === 0;
    case 'any':
      return value === null;
    case 'string':
      return value === '';
    case 'bool':
      return value === false;
    case 'uint':
      return value === 0n;
    case 'textEnum':
      return value === 0;
  }
}

/** Represents a value of Go type `t`. */
export function represent(value: unknown, t: GoType): OutNode {
  switch (t.kind) {
    case 'struct': {
      const record = value as Record<string, unknown>;
      const pairs: Array<[OutNode, OutNode]> = [];
      for (const f of t.fields) {
        const v = record[f.key];
        if (f.omitEmpty && isZero(v, f.type)) continue;
        pairs.push([stringNode(f.key), represent(v, f.type)]);
      }
      return { kind: 'map', pairs };
    }
    case 'slice':
      return { kind: 'seq', items: ((value as unknown[] | null) ?? []).map((v) => represent(v, t.elem)) };
    case 'string':
      return stringNode(value as string);
    case 'bool':
      return plain(String(value));
    case 'uint':
      return plain(String(value));
    case 'textEnum':
      return stringNode(t.names[value as number] ?? `${t.name.split('.').pop()}(${String(value)})`);
    case 'stringMap':
    case 'anyMap':
    case 'any':
      return representAny(value as GoValue);
  }
}

function representAny(v: GoValue): OutNode {
  if (v === null) return plain('null');
  if (typeof v === 'string') return stringNode(v);
  if (typeof v === 'boolean') return plain(String(v));
  if (Array.isArray(v)) return { kind: 'seq', items: v.map(representAny) };
  switch (v.go) {
    case 'int':
    case 'uint64':
      return plain(v.value.toString());
    case 'float64':
      return plain(formatGoFloat(v.value));
    case 'time':
      return plain(v.text);
    case 'map[string]': {
      const keys = [...v.entries.keys()].sort((a, b) => compareKeys(a, b));
      return { kind: 'map', pairs: keys.map((k) => [stringNode(k), representAny(v.entries.get(k) ?? null)]) };
    }
    case 'map[any]': {
      const entries = [...v.entries].sort(([a], [b]) => compareKeys(a, b));
      return { kind: 'map', pairs: entries.map(([k, val]) => [representAny(k), representAny(val)]) };
    }
  }
}

// reflect.Kind numbers, which go-yaml uses to order keys of different types.
const KIND = { bool: 1, int: 2, uint64: 11, float64: 14, nil: 20, string: 24, other: 25 } as const;

function kindOf(v: GoValue): number {
  if (v === null) return KIND.nil;
  if (typeof v === 'boolean') return KIND.bool;
  if (typeof v === 'string') return KIND.string;
  if (Array.isArray(v)) return KIND.other;
  switch (v.go) {
    case 'int':
      return KIND.int;
    case 'uint64':
      return KIND.uint64;
    case 'float64':
      return KIND.float64;
    default:
      return KIND.other;
  }
}

function keyFloat(v: GoValue): number | undefined {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  if (v.go === 'int' || v.go === 'uint64') return Number(v.value);
  if (v.go === 'float64') return v.value;
  return undefined;
}

function numLess(a: GoValue, b: GoValue): boolean {
  if (typeof a === 'boolean') return !a && b === true;
  const av = (a as { value: bigint | number }).value;
  const bv = (b as { value: bigint | number }).value;
  return av < bv;
}

/** go-yaml's keyList.Less as a comparator. */
function compareKeys(a: GoValue, b: GoValue): number {
  if (less(a, b)) return -1;
  return less(b, a) ? 1 : 0;
}

const IS_DIGIT = /\p{Nd}/u;
const IS_LETTER = /\p{L}/u;

function less(a: GoValue, b: GoValue): boolean {
  const ak = kindOf(a);
  const bk = kindOf(b);
  const af = keyFloat(a);
  const bf = keyFloat(b);
  if (af !== undefined && bf !== undefined) {
    if (af !== bf) return af < bf;
    if (ak !== bk) return ak < bk;
    return numLess(a, b);
  }
  if (typeof a !== 'string' || typeof b !== 'string') return ak < bk;
  return naturalLess(a, b);
}

/** Natural order: letters before other characters, digit runs compared by value. */
function naturalLess(a: string, b: string): boolean {
  const ar = Array.from(a);
  const br = Array.from(b);
  const code = (c: string): number => c.codePointAt(0)!;
  let digits = false;
  for (let i = 0; i < ar.length && i < br.length; i++) {
    const ac = ar[i]!;
    const bc = br[i]!;
    if (ac === bc) {
      digits = IS_DIGIT.test(ac);
      continue;
    }
    const al = IS_LETTER.test(ac);
    const bl = IS_LETTER.test(bc);
    if (al && bl) return code(ac) < code(bc);
    if (al || bl) return digits ? al : bl;
    let an = 0n;
    let bn = 0n;
    if (ac === '0' || bc === '0') {
      for (let j = i - 1; j >= 0 && IS_DIGIT.test(ar[j]!); j--) {
        if (ar[j] !== '0') {
          an = 1n;
          bn = 1n;
          break;
        }
      }
    }
    // Go accumulates in an int64 and lets it wrap.
    let ai = i;
    for (; ai < ar.length && IS_DIGIT.test(ar[ai]!); ai++) an = BigInt.asIntN(64, an * 10n + BigInt(code(ar[ai]!) - 48));
    let bi = i;
    for (; bi < br.length && IS_DIGIT.test(br[bi]!); bi++) bn = BigInt.asIntN(64, bn * 10n + BigInt(code(br[bi]!) - 48));
    if (an !== bn) return an < bn;
    if (ai !== bi) return ai < bi;
    return code(ac) < code(bc);
  }
  return ar.length < br.length;
}
