// Strict decoding of a node tree into a described Go type, with go-yaml's
// rules: KnownFields (unknown keys are errors), unique keys, merge keys,
// aliases, its scalar conversions, and its error texts. Type errors are
// collected and reported together, as go-yaml does.

import type { YamlNode } from './load.js';
import { resolve, ResolveError, TAG } from './resolve.js';
import { type GoType, goTypeName, UINT_MAX, zeroValue } from './types.js';
import { type GoAnyMap, goEqual, goStringMap, type GoStringMap, type GoValue } from './values.js';

/** A decoding failure; `message` is the text upstream answers with (without the trailing newline). */
export class ConstructError extends Error {}

class Fatal extends Error {}

interface Result {
  good: boolean;
  value: unknown;
}

/** Bounds the work an alias-heavy document may cause (a "billion laughs" guard). */
const MAX_CONSTRUCTED_NODES = 200_000;

const OLD_TRUE = new Set(['y', 'Y', 'yes', 'Yes', 'YES', 'on', 'On', 'ON']);
const OLD_FALSE = new Set(['n', 'N', 'no', 'No', 'NO', 'off', 'Off', 'OFF']);

export function construct(root: YamlNode, type: GoType): unknown {
  const c = new Constructor();
  let value: unknown;
  try {
    value = c.construct(root, type, zeroValue(type)).value;
  } catch (e) {
    if (e instanceof Fatal) throw new ConstructError(e.message);
    throw e;
  }
  if (c.errors.length > 0) throw new ConstructError(`yaml: construct errors: ${c.errors.join('; ')}`);
  return value;
}

/** The tag go-yaml reports for a node: explicit, resolved, or the collection default. */
function nodeTag(n: YamlNode): string {
  if (n.kind === 'alias' && n.target) return nodeTag(n.target);
  if (n.tag && n.tag !== '!') return n.tag;
  if (n.kind === 'map') return TAG.map;
  if (n.kind === 'seq') return TAG.seq;
  return TAG.str;
}

function indicatedString(n: YamlNode): boolean {
  return n.kind === 'scalar' && (n.tag === TAG.str || ((n.tag === '' || n.tag === '!') && n.style !== 'plain'));
}

const isMerge = (n: YamlNode): boolean => n.kind === 'scalar' && n.tag === TAG.merge;

/** A key under which a constructed Go value is remembered for merges. */
function keyId(v: GoValue): string {
  if (v === null) return 'nil';
  if (typeof v === 'string') return `s:${v}`;
  if (typeof v === 'boolean') return `b:${v}`;
  if (Array.isArray(v)) return `unhashable`;
  switch (v.go) {
    case 'int':
    case 'uint64':
      return `${v.go}:${v.value}`;
    case 'float64':
      return `f:${Object.is(v.value, -0) ? '0' : v.value}`;
    case 'time':
      return `t:${v.text}`;
    default:
      return 'unhashable';
  }
}

class Constructor {
  readonly errors: string[] = [];
  private count = 0;
  private readonly activeAliases = new Set<YamlNode>();
  private mergedFields: Set<string> | undefined;

  construct(n: YamlNode, t: GoType, out: unknown): Result {
    if (++this.count > MAX_CONSTRUCTED_NODES) {
      throw new Fatal(`yaml: line ${n.line}: document contains excessive aliasing`);
    }
    if (n.kind === 'alias') return this.alias(n, t, out);
    if (n.kind !== 'scalar' && t.kind === 'textEnum') {
      return this.fail(n, `cannot construct ${nodeTag(n)} into ${goTypeName(t)} (TextUnmarshaler)`, out);
    }
    switch (n.kind) {
      case 'scalar':
        return this.scalar(n, t, out);
      case 'seq':
        return this.sequence(n, t, out);
      case 'map':
        return this.mapping(n, t, out);
    }
  }

  private fail(n: YamlNode, message: string, out: unknown): Result {
    this.errors.push(`line ${n.line}: ${message}`);
    return { good: false, value: out };
  }

  private tagError(n: YamlNode, tag: string, t: GoType, out: unknown): Result {
    if (n.tag && n.tag !== '!') tag = n.tag;
    let shown = '';
    if (tag !== TAG.seq && tag !== TAG.map) {
      const bytes = Buffer.from(n.value, 'utf8');
      shown = bytes.length > 10 ? ` \`${bytes.subarray(0, 7).toString('utf8')}...\`` : ` \`${n.value}\``;
    }
    return this.fail(n, `cannot construct ${tag}${shown} into ${goTypeName(t)}`, out);
  }

  private alias(n: YamlNode, t: GoType, out: unknown): Result {
    const target = n.target;
    if (!target) throw new Fatal(`yaml: line ${n.line}: unknown anchor '${n.anchor}' referenced`);
    if (this.activeAliases.has(n)) throw new Fatal(`yaml: line ${n.line}: anchor '${n.anchor}' value contains itself`);
    this.activeAliases.add(n);
    try {
      return this.construct(target, t, out);
    } finally {
      this.activeAliases.delete(n);
    }
  }

  /** go-yaml's null(): only nillable targets take a null. */
  private null(t: GoType, out: unknown): Result {
    if (t.kind === 'slice' || t.kind === 'stringMap' || t.kind === 'any') return { good: true, value: null };
    return { good: false, value: out };
  }

  private scalar(n: YamlNode, t: GoType, out: unknown): Result {
    let tag: string;
    let resolved: GoValue;
    if (indicatedString(n)) {
      tag = TAG.str;
      resolved = n.value;
    } else {
      try {
        ({ tag, value: resolved } = resolve(n.tag === '!' ? '' : n.tag, n.value));
      } catch (e) {
        if (e instanceof ResolveError) throw new Fatal(`yaml: line ${n.line}: ${e.message}`);
        throw e;
      }
      if (tag === TAG.binary) resolved = decodeBinary(n);
    }
    if (resolved === null) return this.null(t, out);

    // Exact Go type matches.
    if (typeof resolved === 'string' && t.kind === 'string') return { good: true, value: resolved };
    if (typeof resolved === 'boolean' && t.kind === 'bool') return { good: true, value: resolved };

    if (t.kind === 'textEnum') {
      const text = tag === TAG.binary ? (resolved as string) : n.value;
      const index = t.names.findIndex((name) => name === text || name === text.toLowerCase());
      if (index < 0) return this.fail(n, `${text} does not belong to ${t.name.split('.').pop()} values`, out);
      return { good: true, value: index };
    }
    if (t.kind === 'any' && tag !== TAG.merge) {
      // Every known constructor hands an interface{} the resolved value; so does the unknown-tag fallback.
      return { good: true, value: resolved };
    }

    switch (tag) {
      case TAG.str:
        if (t.kind === 'bool') {
          if (OLD_TRUE.has(n.value)) return { good: true, value: true };
          if (OLD_FALSE.has(n.value)) return { good: true, value: false };
        }
        return this.tagError(n, TAG.str, t, out);
      case TAG.int:
        if (t.kind === 'uint') {
          const v = (resolved as { value: bigint }).value;
          if (v >= 0n && v <= UINT_MAX[t.name]) return { good: true, value: v };
        }
        if (t.kind === 'string') return { good: true, value: n.value };
        return this.tagError(n, TAG.int, t, out);
      case TAG.bool:
        if (t.kind === 'string') return { good: true, value: n.value };
        return this.tagError(n, TAG.bool, t, out);
      case TAG.float:
        if (t.kind === 'uint') {
          const f = (resolved as { value: number }).value;
          if (Number.isInteger(f) && f >= 0 && BigInt(f) <= UINT_MAX[t.name]) return { good: true, value: BigInt(f) };
        }
        if (t.kind === 'string') return { good: true, value: n.value };
        return this.tagError(n, TAG.float, t, out);
      case TAG.binary:
        if (t.kind === 'string') return { good: true, value: resolved };
        return this.tagError(n, TAG.binary, t, out);
      case TAG.timestamp:
      case TAG.null:
        return this.tagError(n, tag, t, out);
      case TAG.merge:
        return { good: false, value: out };
      default:
        // An unknown local tag keeps the text; only interface{} and strings take it.
        if (typeof resolved === 'string' && t.kind === 'string') return { good: true, value: resolved };
        return this.tagError(n, tag, t, out);
    }
  }

  private sequence(n: YamlNode, t: GoType, out: unknown): Result {
    const elem: GoType | undefined = t.kind === 'slice' ? t.elem : t.kind === 'any' ? t : undefined;
    if (!elem) return this.tagError(n, TAG.seq, t, out);
    const items: unknown[] = [];
    for (const child of n.content) {
      const r = this.construct(child, elem, zeroValue(elem));
      if (r.good) items.push(r.value);
    }
    return { good: true, value: items };
  }

  private mapping(n: YamlNode, t: GoType, out: unknown): Result {
    const before = this.errors.length;
    for (let i = 0; i < n.content.length; i += 2) {
      const a = n.content[i]!;
      for (let j = i + 2; j < n.content.length; j += 2) {
        const b = n.content[j]!;
        if (a.kind === b.kind && a.value === b.value) {
          this.errors.push(`line ${b.line}: mapping key ${JSON.stringify(b.value)} already defined at line ${a.line}`);
        }
      }
    }
    if (this.errors.length > before) return { good: false, value: out };

    if (t.kind === 'struct') return this.mappingStruct(n, t, out as Record<string, unknown>);
    // A map already being filled (by a merge) is reused; an interface{} gets a new one.
    if (t.kind === 'stringMap' || (t.kind === 'any' && isStringMap(n))) {
      const existing = t.kind === 'stringMap' ? (out as GoStringMap | null) : null;
      return this.mappingInto(n, existing ?? goStringMap(), { kind: 'string' });
    }
    if (t.kind === 'anyMap' || t.kind === 'any') {
      const existing = t.kind === 'anyMap' ? (out as GoAnyMap | null) : null;
      return this.mappingInto(n, existing ?? { go: 'map[any]', entries: [] }, { kind: 'any' });
    }
    return this.tagError(n, TAG.map, t, out);
  }

  private mappingInto(n: YamlNode, map: GoStringMap | GoAnyMap, keyType: GoType): Result {
    const merged = this.mergedFields;
    this.mergedFields = undefined;
    let mergeNode: YamlNode | undefined;
    for (let i = 0; i < n.content.length; i += 2) {
      const keyNode = n.content[i]!;
      const valueNode = n.content[i + 1]!;
      if (isMerge(keyNode)) {
        mergeNode = valueNode;
        continue;
      }
      const k = this.construct(keyNode, keyType, zeroValue(keyType));
      if (!k.good) continue;
      const key = k.value as GoValue;
      if (merged) {
        if (merged.has(keyId(key))) continue;
        merged.add(keyId(key));
      }
      if (key !== null && typeof key === 'object' && (Array.isArray(key) || key.go.startsWith('map'))) {
        throw new Fatal(`yaml: line ${keyNode.line}: cannot use a ${Array.isArray(key) ? 'sequence' : 'mapping'} as a map key`);
      }
      // Values are interface{}: a null decodes fine, only a `<<` scalar value is dropped.
      const v = this.construct(valueNode, { kind: 'any' }, null);
      if (v.good) mapSet(map, key, v.value as GoValue);
    }
    this.mergedFields = merged;
    if (mergeNode) this.merge(n, mergeNode, keyType.kind === 'string' ? { kind: 'stringMap' } : { kind: 'anyMap' }, map);
    return { good: true, value: map };
  }

  private mappingStruct(n: YamlNode, t: Extract<GoType, { kind: 'struct' }>, out: Record<string, unknown>): Result {
    const merged = this.mergedFields;
    this.mergedFields = undefined;
    let mergeNode: YamlNode | undefined;
    const done = new Set<string>();
    for (let i = 0; i < n.content.length; i += 2) {
      const keyNode = n.content[i]!;
      if (isMerge(keyNode)) {
        mergeNode = n.content[i + 1];
        continue;
      }
      const k = this.construct(keyNode, { kind: 'string' }, '');
      if (!k.good) continue;
      const name = k.value as string;
      if (merged) {
        if (merged.has(keyId(name))) continue;
        merged.add(keyId(name));
      }
      const field = t.fields.find((f) => f.key === name);
      if (!field) {
        this.fail(keyNode, `field ${name} not found in type ${t.name}`, out);
        continue;
      }
      if (done.has(name)) {
        this.fail(keyNode, `field ${name} already set in type ${t.name}`, out);
        continue;
      }
      done.add(name);
      out[name] = this.construct(n.content[i + 1]!, field.type, out[name]).value;
    }
    this.mergedFields = merged;
    if (mergeNode) this.merge(n, mergeNode, t, out);
    return { good: true, value: out };
  }

  /** Applies `<<`: keys of the parent win, then earlier merged maps win over later ones. */
  private merge(parent: YamlNode, mergeNode: YamlNode, t: GoType, out: unknown): void {
    const saved = this.mergedFields;
    if (!saved) {
      this.mergedFields = new Set();
      for (let i = 0; i < parent.content.length; i += 2) {
        const k = this.construct(parent.content[i]!, { kind: 'any' }, null);
        if (k.good) this.mergedFields.add(keyId(k.value as GoValue));
      }
    }
    const wantMap = (node: YamlNode): void => {
      const target = node.kind === 'alias' ? node.target : node;
      if (target && target.kind !== 'map') {
        throw new Fatal(`yaml: line ${node.line}: map merge requires map or sequence of maps as the value`);
      }
    };
    if (mergeNode.kind === 'seq') {
      for (const item of mergeNode.content) {
        wantMap(item);
        this.construct(item, t, out);
      }
    } else {
      wantMap(mergeNode);
      this.construct(mergeNode, t, out);
    }
    this.mergedFields = saved;
  }
}

function isStringMap(n: YamlNode): boolean {
  for (let i = 0; i < n.content.length; i += 2) {
    const key = n.content[i]!;
    const tag = indicatedString(key) ? TAG.str : nodeTag(key);
    if (tag !== TAG.str && tag !== TAG.merge) return false;
  }
  return true;
}

function mapSet(map: GoStringMap | GoAnyMap, key: GoValue, value: GoValue): void {
  if (map.go === 'map[string]') {
    map.entries.set(key as string, value);
    return;
  }
  const existing = map.entries.find(([k]) => goEqual(k, key));
  if (existing) existing[1] = value;
  else map.entries.push([key, value]);
}

function decodeBinary(n: YamlNode): string {
  const compact = n.value.replace(/[\r\n]/g, ''); // Go's StdEncoding skips only CR and LF
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(compact)) {
    throw new Fatal(`yaml: line ${n.line}: !!binary value contains invalid base64 data`);
  }
  return Buffer.from(compact, 'base64').toString('utf8');
}
