// Our own table: every field, quoting and block-scalar rule, and many
// spellings of one schematic that must converge on one ID.

import { describe, expect, it } from 'vitest';
import { InvalidSchematicError, parseSchematic } from '../../src/schematic/index.js';

const canonical = (input: string): string => parseSchematic(input).canonical;
const errorOf = (input: string): string => {
  try {
    parseSchematic(input);
  } catch (e) {
    if (e instanceof InvalidSchematicError) return e.message;
    throw e;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
};

describe('canonical form', () => {
  it.each([
    // field order follows the Go struct, not the input
    [
      'customization: {diskImage: {sectorSize: 4096}, bootloader: grub, secureboot: {includeWellKnownCertificates: true, enrollKeys: force}, systemExtensions: {officialExtensions: [siderolabs/gvisor]}, meta: [{value: x, key: 1}], extraKernelArgs: [a], embeddedMachineConfiguration: "x"}\noverlay: {options: {a: 1}, name: n, image: i}',
      'overlay:\n    image: i\n    name: \'n\'\n    options:\n        a: 1\ncustomization:\n    embeddedMachineConfiguration: x\n    extraKernelArgs:\n        - a\n    meta:\n        - key: 1\n          value: x\n    systemExtensions:\n        officialExtensions:\n            - siderolabs/gvisor\n    bootloader: grub\n    secureboot:\n        enrollKeys: force\n        includeWellKnownCertificates: true\n    diskImage:\n        sectorSize: 4096\n',
    ],
    // omitempty: empty lists, false, 0, "" and all-zero objects vanish; none is the zero bootloader
    [
      'customization: {extraKernelArgs: [], meta: [], secureboot: {includeWellKnownCertificates: false, enrollKeys: ""}, diskImage: {sectorSize: 0}, bootloader: none, systemExtensions: {officialExtensions: []}}\noverlay: {}',
      'customization: {}\n',
    ],
    // overlay fields image/name are not omitempty
    ['overlay: {options: {k: v}}', 'overlay:\n    image: ""\n    name: ""\n    options:\n        k: v\ncustomization: {}\n'],
    // meta value and key are always written
    ['customization: {meta: [{key: 0}]}', 'customization:\n    meta:\n        - key: 0\n          value: ""\n'],
    // quoting: YAML 1.1 bools single, other types double, indicators single
    [
      'customization: {extraKernelArgs: ["yes", "off", "y", "true", "123", "1.5", "null", "~", "", "- a", "a: b", "x #y", "#c", "&a", " lead", "trail ", "<<", "1:20", "0x1F", "é", "tab\\there", "a\'b"]}',
      'customization:\n    extraKernelArgs:\n        - \'yes\'\n        - \'off\'\n        - \'y\'\n        - "true"\n        - "123"\n        - "1.5"\n        - "null"\n        - "~"\n        - ""\n        - \'- a\'\n        - \'a: b\'\n        - \'x #y\'\n        - \'#c\'\n        - \'&a\'\n        - \' lead\'\n        - \'trail \'\n        - \'<<\'\n        - \'1:20\'\n        - "0x1F"\n        - é\n        - "tab\\there"\n        - a\'b\n',
    ],
    // literal blocks: clip, strip, keep, indentation indicator; double quotes when a block cannot be used
    ['customization: {embeddedMachineConfiguration: "a\\nb\\n"}', 'customization:\n    embeddedMachineConfiguration: |\n        a\n        b\n'],
    ['customization: {embeddedMachineConfiguration: "a\\nb"}', 'customization:\n    embeddedMachineConfiguration: |-\n        a\n        b\n'],
    ['customization: {embeddedMachineConfiguration: "a\\n\\n"}', 'customization:\n    embeddedMachineConfiguration: |+\n        a\n\n'],
    ['customization: {embeddedMachineConfiguration: " a\\nb\\n"}', 'customization:\n    embeddedMachineConfiguration: |4\n         a\n        b\n'],
    ['customization: {embeddedMachineConfiguration: "a \\nb"}', 'customization:\n    embeddedMachineConfiguration: "a \\nb"\n'],
    ['customization: {embeddedMachineConfiguration: "\\n"}', 'customization:\n    embeddedMachineConfiguration: "\\n"\n'],
    ['customization: {extraKernelArgs: ["a\\nb"]}', 'customization:\n    extraKernelArgs:\n        - |-\n          a\n          b\n'],
    // natural key order, Go number formatting, nested maps and lists, timestamps
    [
      'overlay: {options: {b10: 1, b9: 2, a: [1.5, 1e6, 1.0, -0.0, 0.00001, .inf], "1": x, B: {z: [], y: {}}, t: 2001-12-14, n: null}}',
      'overlay:\n    image: ""\n    name: ""\n    options:\n        "1": x\n        B:\n            \'y\': {}\n            z: []\n        a:\n            - 1.5\n            - 1e+06\n            - 1\n            - -0\n            - 1e-05\n            - .inf\n        b9: 2\n        b10: 1\n        \'n\': null\n        t: 2001-12-14T00:00:00Z\ncustomization: {}\n',
    ],
    // keys longer than 128 bytes or spanning lines are written as complex keys
    [
      `overlay: {options: {"${'k'.repeat(129)}": 1, "a\\nb": 2}}`,
      `overlay:\n    image: ""\n    name: ""\n    options:\n        ? |-\n            a\n            b\n        : 2\n        ? ${'k'.repeat(129)}\n        : 1\ncustomization: {}\n`,
    ],
  ])('%s', (input, want) => {
    expect(canonical(input)).toBe(want);
  });
});

describe('spellings that converge on one ID', () => {
  const want = parseSchematic(
    'customization:\n  extraKernelArgs: [nolapic, "console=ttyS0"]\n  meta: [{key: 10, value: "{}"}]\n  systemExtensions: {officialExtensions: [siderolabs/gvisor]}\n',
  ).id;
  it.each([
    '{"customization": {"extraKernelArgs": ["nolapic", "console=ttyS0"], "meta": [{"key": 10, "value": "{}"}], "systemExtensions": {"officialExtensions": ["siderolabs/gvisor"]}}}',
    '# a comment\ncustomization:\n  systemExtensions:\n    officialExtensions:\n      - siderolabs/gvisor   # trailing comment\n  meta:\n    - value: \'{}\'\n      key: 0xa\n  extraKernelArgs:\n  - nolapic\n  - console=ttyS0\n',
    '---\ncustomization: {meta: [{key: 0o12, value: "{}"}], extraKernelArgs: [nolapic, console=ttyS0], systemExtensions: {officialExtensions: [siderolabs/gvisor]}, diskImage: {}}\n...\n',
    'customization:\r\n  extraKernelArgs: [nolapic, console=ttyS0]\r\n  meta: [{key: 10.0, value: "{}"}]\r\n  systemExtensions: {officialExtensions: ["siderolabs/gvisor"]}\r\n',
    '\uFEFFcustomization:\n  extraKernelArgs: &args [nolapic, console=ttyS0]\n  meta: [{key: 10, value: "{}"}]\n  systemExtensions: {officialExtensions: [siderolabs/gvisor]}\n---\nsecond: document ignored\n',
  ])('%s', (input) => {
    expect(parseSchematic(input).id).toBe(want);
  });
});

describe('strict parsing', () => {
  it.each([
    ['customization:\n  bad: 1\n  worse: 2\n', 'yaml: construct errors: line 2: field bad not found in type schematic.Customization; line 3: field worse not found in type schematic.Customization'],
    ['customization:\n  systemExtensions:\n    official: [a]\n', 'yaml: construct errors: line 3: field official not found in type schematic.SystemExtensions'],
    ['overlay:\n  nme: x\n', 'yaml: construct errors: line 2: field nme not found in type schematic.Overlay'],
    ['customization:\n  meta:\n    - key: 1\n      vaule: x\n', 'yaml: construct errors: line 4: field vaule not found in type schematic.MetaValue'],
    ['customization: {}\ncustomization: {}\n', 'yaml: construct errors: line 2: mapping key "customization" already defined at line 1'],
    ['customization:\n  meta:\n    - key: 256\n', 'yaml: construct errors: line 3: cannot construct !!int `256` into uint8'],
    ['customization:\n  bootloader: auto\n', 'yaml: construct errors: line 2: auto does not belong to BootloaderKind values'],
    ['customization:\n  extraKernelArgs: a b\n', 'yaml: construct errors: line 2: cannot construct !!str `a b` into []string'],
    ['customization:\n  diskImage: {sectorSize: "512"}\n', 'yaml: construct errors: line 2: cannot construct !!str `512` into uint'],
    ['customization: []\n', 'yaml: construct errors: line 1: cannot construct !!seq into schematic.Customization'],
    ['a', 'yaml: construct errors: line 1: cannot construct !!str `a` into schematic.Schematic'],
    ['', 'EOF'],
  ])('%j', (input, message) => {
    expect(errorOf(input)).toBe(message);
  });

  it('accepts every bootloader upstream accepts, in any case', () => {
    expect(canonical('customization: {bootloader: DUAL-BOOT}')).toBe('customization:\n    bootloader: dual-boot\n');
    expect(canonical('customization: {bootloader: sd-boot}')).toBe('customization:\n    bootloader: sd-boot\n');
    expect(canonical('customization: {bootloader: Grub}')).toBe('customization:\n    bootloader: grub\n');
  });

  it('reports YAML syntax errors with their line', () => {
    expect(errorOf('customization:\n  extraKernelArgs: [a\n')).toMatch(/^yaml: line \d+: /);
  });

  it('survives an exponential alias bomb quickly', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 12; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array(10).fill(`*${prev}`).join(', ')}]`);
    }
    const bomb = `overlay:\n  options:\n${levels.map((l) => `    ${l}`).join('\n')}\n`;
    const started = Date.now();
    expect(errorOf(bomb)).toMatch(/excessive aliasing/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('refuses raw line-break characters YAML 1.1 and 1.2 read differently, naming the fix', () => {
    expect(errorOf('customization: {extraKernelArgs: ["a\u2028b"]}')).toMatch(/U\+2028.*escape/);
  });
});
