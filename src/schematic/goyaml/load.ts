// Reads YAML text into a small node tree shaped like go-yaml's: every scalar
// keeps its source text, style and resolved tag, every node its line, and
// aliases point at the node they name. Only the first document is read.

import { Alias, isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, Scalar } from 'yaml';
import { resolve, shortTag, TAG } from './resolve.js';

export type ScalarStyle = 'plain' | 'single' | 'double' | 'literal' | 'folded';

export interface YamlNode {
  kind: 'scalar' | 'seq' | 'map' | 'alias';
  /** Short tag (`!!str`, `!foo`), resolved for untagged scalars; '' for untagged collections. */
  tag: string;
  /** True when the tag was written in the source. */
  explicitTag: boolean;
  style: ScalarStyle;
  value: string;
  line: number;
  /** Sequence items, or mapping keys and values interleaved. */
  content: YamlNode[];
  /** The anchor an alias names, and its target once linked. */
  anchor: string;
  target: YamlNode | undefined;
}

/** Malformed YAML: the message names the line. */
export class YamlSyntaxError extends Error {}

const STYLE: Record<string, ScalarStyle> = {
  PLAIN: 'plain',
  QUOTE_SINGLE: 'single',
  QUOTE_DOUBLE: 'double',
  BLOCK_LITERAL: 'literal',
  BLOCK_FOLDED: 'folded',
};

/**
 * Parses the first document of `text`. Returns undefined for a stream with no
 * document at all (go-yaml's io.EOF).
 */
export function loadFirstDocument(text: string): YamlNode | undefined {
  checkCharacters(text);
  const lines = new LineCounter();
  const source = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const docs = parseAllDocuments(source, {
    schema: 'failsafe',
    uniqueKeys: false,
    prettyErrors: false,
    strict: false,
    lineCounter: lines,
  });
  const doc = (Array.isArray(docs) ? docs[0] : undefined) as Document.Parsed | undefined;
  if (!doc) return undefined;
  const error = doc.errors[0];
  if (error) {
    const line = lines.linePos(error.pos[0]).line;
    throw new YamlSyntaxError(`yaml: line ${line}: ${error.message.split('\n')[0]}`);
  }
  return new Converter(doc, lines, source).node(doc.contents, 0);
}

class Converter {
  private readonly seen = new Map<unknown, YamlNode>();
  private readonly aliases: Array<{ node: YamlNode; source: Alias }> = [];

  constructor(
    private readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
    private readonly source: string,
  ) {}

  node(src: unknown, fallbackOffset: number): YamlNode {
    const root = this.convert(src, fallbackOffset);
    for (const { node, source } of this.aliases) {
      const target = source.resolve(this.doc);
      if (!target) throw new YamlSyntaxError(`yaml: line ${node.line}: unknown anchor '${node.anchor}' referenced`);
      node.target = this.seen.get(target);
    }
    return root;
  }

  private lineOf(offset: number): number {
    return this.lines.linePos(offset).line;
  }

  private convert(src: unknown, fallbackOffset: number): YamlNode {
    const known = this.seen.get(src);
    if (known) return known;
    const node = this.build(src, fallbackOffset);
    if (src !== null && src !== undefined) this.seen.set(src, node);
    return node;
  }

  private build(src: unknown, fallbackOffset: number): YamlNode {
    const base = (kind: YamlNode['kind'], offset: number, tag: string | undefined): YamlNode => ({
      kind,
      tag: tag ? shortTag(tag) : '',
      explicitTag: Boolean(tag),
      style: 'plain',
      value: '',
      line: this.lineOf(offset),
      content: [],
      anchor: '',
      target: undefined,
    });
    if (src === null || src === undefined) {
      // `key:` with nothing after it: an empty plain scalar, i.e. null.
      return { ...base('scalar', fallbackOffset, undefined), tag: TAG.null };
    }
    if (isScalar(src)) {
      const scalar = src as Scalar;
      const node = base('scalar', scalar.range?.[0] ?? fallbackOffset, scalar.tag);
      node.style = STYLE[scalar.type ?? 'PLAIN'] ?? 'plain';
      // The failsafe schema keeps text, except that `yaml` still decodes !!binary: keep its source.
      node.value = typeof scalar.value === 'string' ? scalar.value : (scalar.source ?? '');
      if (node.style === 'double' && scalar.range && SURROGATE_ESCAPE.test(this.source.slice(scalar.range[0], scalar.range[1]))) {
        throw new YamlSyntaxError(
          `yaml: line ${node.line}: found invalid Unicode character escape code (write the character itself, or \\U0001F600-style escapes)`,
        );
      }
      if (!node.explicitTag) node.tag = node.style === 'plain' ? resolve('', node.value).tag : TAG.str;
      return node;
    }
    if (isAlias(src)) {
      const node = base('alias', src.range?.[0] ?? fallbackOffset, undefined);
      node.anchor = src.source;
      node.value = src.source; // go-yaml compares alias keys by anchor name
      this.aliases.push({ node, source: src });
      return node;
    }
    if (isSeq(src)) {
      const node = base('seq', src.range?.[0] ?? fallbackOffset, src.tag);
      this.seen.set(src, node);
      node.content = src.items.map((item) => this.convert(item, src.range?.[0] ?? fallbackOffset));
      return node;
    }
    if (isMap(src)) {
      const node = base('map', src.range?.[0] ?? fallbackOffset, src.tag);
      this.seen.set(src, node);
      for (const pair of src.items) {
        const keyOffset = (pair.key as Scalar | null)?.range?.[0] ?? src.range?.[0] ?? fallbackOffset;
        const key = this.convert(pair.key, keyOffset);
        const valueOffset = (pair.key as Scalar | null)?.range?.[1] ?? keyOffset;
        node.content.push(key, this.convert(pair.value, valueOffset));
      }
      return node;
    }
    throw new YamlSyntaxError(`yaml: line ${this.lineOf(fallbackOffset)}: unsupported YAML node`);
  }
}

/**
 * go-yaml accepts tabs, line breaks and every non-C0 character. Raw NEL, LS
 * and PS are refused too: YAML 1.1 (go-yaml) reads them as line breaks and
 * YAML 1.2 does not, so accepting them could give an ID upstream never would.
 */
function checkCharacters(text: string): void {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const allowed =
      c === 0x09 ||
      c === 0x0a ||
      c === 0x0d ||
      (c >= 0x20 && c <= 0xfffd && c !== 0x85 && c !== 0x2028 && c !== 0x2029 && c !== 0xfffe);
    if (!allowed) {
      const line = text.slice(0, i).split('\n').length;
      const code = `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
      const reason = c < 0x20 ? 'control characters are not allowed' : 'write this line-break character as an escape';
      throw new YamlSyntaxError(`yaml: line ${line}: ${reason} (found raw ${code}; use a "\\u" escape in a double-quoted string)`);
    }
  }
}

/** go-yaml rejects escapes of UTF-16 surrogates (`"\ud83d\ude00"`); JSON allows them. */
const SURROGATE_ESCAPE = /\\(?:u[dD][89a-fA-F][0-9a-fA-F]{2}|U0000[dD][89a-fA-F][0-9a-fA-F]{2})/;
