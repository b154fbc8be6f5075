// Generated schematics: emit(x) parses back to x, and emitting again gives
// the same bytes (the canonical form is a fixed point).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { goFloat, goInt, goStringMap, type GoValue } from '../../src/schematic/goyaml/values.js';
import { formatGoFloat } from '../../src/schematic/goyaml/represent.js';
import { resolve } from '../../src/schematic/goyaml/resolve.js';
import { emptySchematic, marshalSchematic, parseSchematic, type Schematic } from '../../src/schematic/index.js';

// Raw NEL/LS/PS are refused on input (YAML 1.1 and 1.2 read them differently), so they are left out.
const text = fc
  .string({ unit: 'binary', maxLength: 12 })
  .filter((s) => !/[\u0085\u2028\u2029]/.test(s) && Buffer.from(s, 'utf8').toString('utf8') === s);
const word = fc.oneof(text, fc.constantFrom('yes', 'no', 'true', 'null', '~', '1.5', '0x10', '1:20', '- x', 'a: b', ' x', 'a\nb\n', '\n', 'é'));

/** Floats whose Go formatting reads back as a float (1.0 is written `1` and comes back an int, as in Go). */
const float = fc.double({ noNaN: true }).filter((f) => resolve('', formatGoFloat(f)).tag === '!!float');

const leaf: fc.Arbitrary<GoValue> = fc.oneof(
  word,
  fc.boolean(),
  fc.constant(null),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(goInt),
  float.map(goFloat),
);
const { tree } = fc.letrec<{ tree: GoValue }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('tree'), { maxLength: 3 }),
    fc.dictionary(word, tie('tree'), { maxKeys: 3 }).map((d) => goStringMap(new Map(Object.entries(d)))),
  ),
}));

const schematicArb: fc.Arbitrary<Schematic> = fc.record({
  overlay: fc.option(fc.record({ image: word, name: word, options: fc.dictionary(word, tree, { maxKeys: 4 }) }), { nil: undefined }),
  args: fc.array(word, { maxLength: 4 }),
  meta: fc.array(fc.record({ key: fc.integer({ min: 0, max: 255 }), value: word }), { maxLength: 3 }),
  extensions: fc.array(word, { maxLength: 3 }),
  config: word,
  bootloader: fc.integer({ min: 0, max: 3 }),
  enrollKeys: word,
  wellKnown: fc.boolean(),
  sectorSize: fc.constantFrom(0n, 512n, 4096n),
}).map((g) => {
  const s = emptySchematic();
  if (g.overlay) {
    s.overlay.image = g.overlay.image;
    s.overlay.name = g.overlay.name;
    s.overlay.options = Object.keys(g.overlay.options).length ? goStringMap(new Map(Object.entries(g.overlay.options))) : null;
  }
  const c = s.customization;
  c.extraKernelArgs = g.args.length ? g.args : null;
  c.meta = g.meta.length ? g.meta.map((m) => ({ key: BigInt(m.key), value: m.value })) : null;
  c.systemExtensions.officialExtensions = g.extensions.length ? g.extensions : null;
  c.embeddedMachineConfiguration = g.config;
  c.bootloader = g.bootloader;
  c.secureboot = { enrollKeys: g.enrollKeys, includeWellKnownCertificates: g.wellKnown };
  c.diskImage.sectorSize = g.sectorSize;
  return s;
});

/** Empty maps in options read back as empty maps, which omitempty treats like absent ones. */
function normalise(s: Schematic): unknown {
  return JSON.parse(
    JSON.stringify(s, (_k, v: unknown) => {
      if (typeof v === 'bigint') return `${v}n`;
      if (v instanceof Map) return Object.fromEntries([...v.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
      if (typeof v === 'number' && Object.is(v, -0)) return '-0';
      return v;
    }),
  );
}

describe('canonical form properties', () => {
  it('parse(emit(x)) equals x and emit is a fixed point', () => {
    fc.assert(
      fc.property(schematicArb, (s) => {
        const first = marshalSchematic(s);
        const parsed = parseSchematic(first, { allowOwner: true });
        expect(normalise(parsed.schematic)).toEqual(normalise(s));
        expect(parsed.canonical).toBe(first);
        expect(parseSchematic(parsed.canonical).canonical).toBe(first);
      }),
      { numRuns: 400 },
    );
  });
});
