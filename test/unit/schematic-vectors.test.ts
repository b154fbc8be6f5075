// The canonical form and ID against upstream's golden vectors and against a
// corpus recorded from go-yaml v4 itself (test/fixtures/goyaml-vectors.jsonl:
// each input was decoded and re-marshalled by go-yaml with upstream's struct).

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvalidSchematicError, parseSchematic } from '../../src/schematic/index.js';

interface Vector {
  input: string;
  ok: boolean;
  canonical?: string;
  id?: string;
  error?: string;
}

const vectors: Vector[] = readFileSync(new URL('../fixtures/goyaml-vectors.jsonl', import.meta.url), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((line) => JSON.parse(line) as Vector);

function attempt(input: string): { ok: true; canonical: string; id: string } | { ok: false; error: string } {
  try {
    const { canonical, id } = parseSchematic(input, { allowOwner: true });
    return { ok: true, canonical, id };
  } catch (e) {
    if (!(e instanceof InvalidSchematicError)) throw e;
    return { ok: false, error: e.message };
  }
}

describe('upstream golden vectors', () => {
  const golden: Array<[string[], string, string]> = [
    [
      ['{}', 'customization: {}', 'customization: {"extraKernelArgs": []}'],
      'customization: {}\n',
      '376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba',
    ],
    [
      [
        'customization:\n  extraKernelArgs: [noapic, nolapic]',
        '{"customization": {"extraKernelArgs": ["noapic", "nolapic"], "systemExtensions": {}}}',
      ],
      'customization:\n    extraKernelArgs:\n        - noapic\n        - nolapic\n',
      '9cba8e32753f91a16c1837ab8abf356af021706ef284aef07380780177d9a06c',
    ],
    [
      ['customization:\n  meta:\n    - key: 10\n      value: foo\n', 'customization: {meta: [{key: 0xa, value: foo, }], extraKernelArgs: []}'],
      'customization:\n    meta:\n        - key: 10\n          value: foo\n',
      'd308a2a5ee2277bed5fbaa104fcbc8d59122abfa737df987a95b4ca763459a7f',
    ],
    [
      ['overlay:\n  name: rpi_generic\n  image: siderolabs/sbc-raspberrypi\n', 'overlay: {image: siderolabs/sbc-raspberrypi, name: rpi_generic}\ncustomization: {}'],
      'overlay:\n    image: siderolabs/sbc-raspberrypi\n    name: rpi_generic\ncustomization: {}\n',
      'ee21ef4a5ef808a9b7484cc0dda0f25075021691c8c09a276591eedb638ea1f9',
    ],
    [
      ['customization:\n  extraKernelArgs:\n    - vga=791\n'],
      'customization:\n    extraKernelArgs:\n        - vga=791\n',
      'eea1f9534c46d95c4715a2f13d17eacb927c13a42ef087c79b22c3bd0c49d073',
    ],
  ];
  for (const [inputs, canonical, id] of golden) {
    for (const input of inputs) {
      it(`${JSON.stringify(input)} -> ${id.slice(0, 12)}`, () => {
        expect(attempt(input)).toEqual({ ok: true, canonical, id });
      });
    }
  }

  it('rejects unknown fields with upstream text', () => {
    expect(attempt('something: 1\n')).toEqual({
      ok: false,
      error: 'yaml: construct errors: line 1: field something not found in type schematic.Schematic',
    });
  });

  it('rejects owner outside Enterprise', () => {
    expect(() => parseSchematic('owner: bob\n')).toThrow('owner field is only supported in Enterprise edition');
  });
});

describe('go-yaml v4 recorded corpus', () => {
  it('holds a real mix of accepted and rejected documents', () => {
    expect(vectors.length).toBeGreaterThan(800);
    expect(vectors.filter((v) => v.ok).length).toBeGreaterThan(400);
    expect(vectors.filter((v) => !v.ok).length).toBeGreaterThan(200);
  });

  it('gives the same bytes and IDs for every accepted document, and rejects every rejected one', () => {
    const failures: string[] = [];
    for (const v of vectors) {
      const got = attempt(v.input);
      if (v.ok && !(got.ok && got.canonical === v.canonical && got.id === v.id)) {
        failures.push(`${JSON.stringify(v.input)}\n  want ${JSON.stringify(v.canonical)}\n  got  ${JSON.stringify(got)}`);
      } else if (!v.ok && got.ok) {
        failures.push(`${JSON.stringify(v.input)}\n  want an error (${v.error ?? 'go-yaml rejects it'})\n  got  ${got.id}`);
      } else if (v.error && !got.ok && got.error !== v.error) {
        failures.push(`${JSON.stringify(v.input)}\n  want ${v.error}\n  got  ${got.error}`);
      }
    }
    expect(failures.slice(0, 5).join('\n\n')).toBe('');
  });
});
