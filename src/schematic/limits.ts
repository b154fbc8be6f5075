// Structural limits on YAML (and JSON, which is YAML) text, checked before
// any parser builds a tree from it. The `yaml` package's composer recurses once
// per nesting level: about a thousand levels (a 2 KB body) overflow its stack,
// and after that overflow V8 may abort the whole process on the next parse
// (measured with yaml 2.9.1 on Node 20: "RegExpCompiler Allocation failed").
// Its lexer, though, is a flat state machine (test/unit/structure-limits.test.ts
// runs it over 200,000 levels), so this walks the lexer's tokens — quoting and
// plain-scalar rules exactly as the parser will see them, which a hand-written
// scanner could get wrong and be bypassed through — and stops at the first
// limit exceeded: nesting depth, nodes, scalar length, documents.
//
// The depth counted is an upper bound of YAML's (every indentation step and
// every `- `, `? `, `: ` on a line counts as a level): real documents sit far
// below the limits, hostile ones cannot get past them.

import { CST, Lexer, parse, type ParseOptions, type DocumentOptions, type SchemaOptions, type ToJSOptions } from 'yaml';

export interface StructureLimits {
  /** Deepest nesting of collections. */
  maxDepth: number;
  /** Collections and scalars together. */
  maxNodes: number;
  /** Characters in one scalar (quoted, block or plain line). */
  maxScalarLength: number;
  /** Documents in the stream (`---` separated). */
  maxDocuments: number;
}

/** What a schematic (and its overlay options) may be: real ones nest under 10 levels and hold a few hundred nodes. */
export const SCHEMATIC_LIMITS: StructureLimits = { maxDepth: 64, maxNodes: 20_000, maxScalarLength: 1024 * 1024, maxDocuments: 16 };

/** What a catalog or extension manifest read from a registry may be (the official ones are far smaller). */
export const CATALOG_LIMITS: StructureLimits = { maxDepth: 64, maxNodes: 500_000, maxScalarLength: 1024 * 1024, maxDocuments: 16 };

export type StructureLimitName = keyof StructureLimits;

const LIMIT_TEXT: Record<StructureLimitName, string> = {
  maxDepth: 'levels of nesting',
  maxNodes: 'nodes',
  maxScalarLength: 'characters in one value',
  maxDocuments: 'documents',
};

/** The text is bigger or deeper than the service parses; the message names the limit (HTTP 400 for a request body). */
export class StructureLimitError extends Error {
  override name = 'StructureLimitError';
  constructor(
    readonly limit: StructureLimitName,
    readonly max: number,
    readonly line: number,
  ) {
    super(`yaml: line ${line}: more than ${max} ${LIMIT_TEXT[limit]} (limit ${limit}=${max}): simplify the document`);
  }
}

/** Throws StructureLimitError when `text` exceeds `limits`; linear time, constant stack. */
export function checkStructure(text: string, limits: StructureLimits): void {
  const fail = (limit: StructureLimitName): never => {
    throw new StructureLimitError(limit, limits[limit], line);
  };
  let line = 1;
  let nodes = 0;
  let documents = 0;
  let contentInDocument = false;
  let flowDepth = 0;
  /** Indentation columns of the open block levels, and the levels opened inline on this line. */
  const indents: number[] = [];
  let inline = 0;
  let atLineStart = true;
  let indent = 0;
  let scalarNext = false;

  const node = (length: number): void => {
    if (++nodes > limits.maxNodes) fail('maxNodes');
    if (!contentInDocument) {
      contentInDocument = true;
      if (++documents > limits.maxDocuments) fail('maxDocuments');
    }
    if (length > limits.maxScalarLength) fail('maxScalarLength');
  };
  const content = (): void => {
    if (atLineStart && flowDepth === 0) {
      while (indents.length > 0 && indents[indents.length - 1]! >= indent) indents.pop();
      indents.push(indent);
    }
    atLineStart = false;
    if (indents.length + inline + flowDepth > limits.maxDepth) fail('maxDepth');
  };

  for (const token of new Lexer().lex(text)) {
    if (scalarNext) {
      // The source of a plain or block scalar (announced by the SCALAR marker), whatever its first character.
      scalarNext = false;
      content();
      node(token.length);
      line += countLines(token);
      continue;
    }
    switch (CST.tokenType(token)) {
      case 'scalar':
        scalarNext = true;
        break;
      case 'newline':
        line++;
        atLineStart = true;
        indent = 0;
        inline = 0;
        break;
      case 'space':
        if (atLineStart) indent = token.length;
        line += countLines(token);
        break;
      case 'comment':
      case 'directive-line':
      case 'byte-order-mark':
      case 'doc-mode':
      case 'doc-end':
        break;
      case 'doc-start':
        contentInDocument = false;
        indents.length = 0;
        break;
      case 'seq-item-ind':
      case 'explicit-key-ind':
      case 'map-value-ind':
        content();
        if (flowDepth === 0) inline++;
        break;
      case 'flow-seq-start':
      case 'flow-map-start':
        content();
        flowDepth++;
        node(0);
        content();
        break;
      case 'flow-seq-end':
      case 'flow-map-end':
        if (flowDepth > 0) flowDepth--;
        break;
      case 'single-quoted-scalar':
      case 'double-quoted-scalar':
        content();
        node(token.length - 2);
        line += countLines(token);
        break;
      default:
        // Aliases, anchors, tags, commas and anything unexpected: structure only.
        content();
        line += countLines(token);
    }
  }
}

function countLines(token: string): number {
  let n = 0;
  for (let at = token.indexOf('\n'); at >= 0; at = token.indexOf('\n', at + 1)) n++;
  return n;
}

/** `yaml`'s parse of text that passed checkStructure (either may throw; the caller words the error). */
export function parseYamlWithin(text: string, limits: StructureLimits, options: ParseOptions & DocumentOptions & SchemaOptions & ToJSOptions = {}): unknown {
  checkStructure(text, limits);
  return parse(text, options) as unknown;
}
