// The structural limits checked before `yaml` builds a tree: deep, wide,
// long and many-document texts are refused with the limit named, real ones
// pass, and the lexer the check walks stays flat however deep the text.

import fc from 'fast-check';
import { CST, Lexer, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseSchematic } from '../../src/schematic/index.js';
import { CATALOG_LIMITS, checkStructure, SCHEMATIC_LIMITS, StructureLimitError } from '../../src/schematic/limits.js';
import { parseOverlayCatalog } from '../../src/release/catalog.js';
import { InvalidReleaseError } from '../../src/release/errors.js';

const flowDeep = (n: number): string => '['.repeat(n) + ']'.repeat(n);
const blockDeep = (n: number): string => Array.from({ length: n }, (_, i) => `${' '.repeat(i * 2)}- `).join('\n') + 'x';
const compactDeep = (n: number): string => `${'- '.repeat(n)}x`;
const mapDeep = (n: number): string => `${Array.from({ length: n }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n')} x`;

function limitOf(text: string): string | undefined {
  try {
    checkStructure(text, SCHEMATIC_LIMITS);
    return undefined;
  } catch (error) {
    if (error instanceof StructureLimitError) return error.limit;
    throw error;
  }
}

describe('checkStructure', () => {
  it('refuses every way of nesting deeper than the limit, and accepts the same shapes within it', () => {
    for (const deep of [flowDeep, blockDeep, compactDeep, mapDeep]) {
      expect(limitOf(deep(1000))).toBe('maxDepth');
      expect(limitOf(deep(65))).toBe('maxDepth');
      expect(limitOf(deep(40))).toBeUndefined();
    }
    expect(limitOf(`{"a": ${'{"b": '.repeat(100)}1${'}'.repeat(100)}}`)).toBe('maxDepth');
  });

  it('does not count brackets inside quoted, block or plain scalars', () => {
    const brackets = '['.repeat(500);
    expect(limitOf(`a: "${brackets}"\nb: '${brackets}'\nc: x${brackets}\n`)).toBeUndefined();
    expect(limitOf(`overlay:\n  options:\n    configTxtAppend: |\n      ${brackets}\n      ${'- '.repeat(200)}\n`)).toBeUndefined();
    // A plain scalar continued on a line that starts with a quote: YAML reads the quote as text.
    expect(limitOf(`a: b\n  'c\nd: ${flowDeep(100)}\ne: '\n`)).toBe('maxDepth');
  });

  it('bounds nodes, scalar length and documents', () => {
    expect(limitOf('a: b\n'.repeat(SCHEMATIC_LIMITS.maxNodes))).toBe('maxNodes');
    expect(limitOf(`[${'1,'.repeat(SCHEMATIC_LIMITS.maxNodes)}1]`)).toBe('maxNodes');
    expect(limitOf(`a: "${'x'.repeat(SCHEMATIC_LIMITS.maxScalarLength + 1)}"`)).toBe('maxScalarLength');
    expect(limitOf(`a: |\n${`  ${'y'.repeat(1000)}\n`.repeat(1100)}`)).toBe('maxScalarLength');
    expect(limitOf('a\n---\n'.repeat(SCHEMATIC_LIMITS.maxDocuments + 1))).toBe('maxDocuments');
    expect(limitOf('a\n---\n'.repeat(SCHEMATIC_LIMITS.maxDocuments))).toBeUndefined();
  });

  it('names the limit and the line in its message', () => {
    expect(() => checkStructure(`a: 1\nb: ${flowDeep(100)}`, SCHEMATIC_LIMITS)).toThrow(
      'yaml: line 2: more than 64 levels of nesting (limit maxDepth=64): simplify the document',
    );
  });

  it('is a bound above what yaml itself nests: any text within it parses without exhausting the stack', () => {
    const piece = fc.constantFrom('[', '{a: ', '- ', '? ', 'k: ');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 80 }), (pieces) => {
        const text = `${pieces.join('')}x`;
        if (limitOf(text) !== undefined) return;
        for (const doc of parseAllDocuments(text)) {
          expect(doc.errors.map((e) => e.message).join()).not.toContain('call stack');
        }
      }),
      { numRuns: 300 },
    );
  });

  it("walks yaml's lexer, which stays flat at 200,000 levels (the recursion is in the composer)", () => {
    const text = flowDeep(200_000);
    for (let i = 0; i < 3; i++) {
      let opened = 0;
      for (const token of new Lexer().lex(text)) if (CST.tokenType(token) === 'flow-seq-start') opened++;
      expect(opened).toBe(200_000);
    }
  });
});

describe('the limits where the service parses YAML', () => {
  it('a schematic: the 2 KB body that aborted the process is a 400-style error, as often as it is sent', () => {
    for (let i = 0; i < 5; i++) {
      expect(() => parseSchematic(flowDeep(1000))).toThrow(/limit maxDepth=64/);
      expect(() => parseSchematic(blockDeep(1000))).toThrow(/limit maxDepth=64/);
    }
    // Real overlay options nest a few levels; those still parse.
    const options = `overlay:\n  name: rpi_generic\n  image: siderolabs/sbc-raspberrypi\n  options:\n${Array.from({ length: 20 }, (_, i) => `${' '.repeat(4 + i * 2)}l${i}:`).join('\n')} deep\n`;
    expect(parseSchematic(options).canonical).toContain('l19: deep');
  });

  it('a catalog read from a registry', () => {
    expect(() => parseOverlayCatalog(`overlays: ${flowDeep(1000)}`)).toThrow(InvalidReleaseError);
    expect(() => parseOverlayCatalog(`overlays: ${flowDeep(1000)}`)).toThrow(/limit maxDepth=64/);
    expect(CATALOG_LIMITS.maxDepth).toBe(64);
  });
});
