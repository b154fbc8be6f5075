import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Cmdline } from '../../src/talos/cmdline.js';
import {
  buildKernelCmdline,
  cmdlineCustomization,
  defaultKernelArgs,
  encodeMetaValues,
  secureBootKernelArgs,
  UnsupportedCustomizationError,
  type KernelCmdlineInput,
  type SchematicCmdlineParts,
} from '../../src/talos/kernel-args.js';
import { allPlatforms, findPlatform, getPlatform, UnknownPlatformError } from '../../src/talos/platforms.js';
import { Quirks } from '../../src/talos/quirks.js';
import { parseVersion } from '../../src/talos/version.js';

const v = (text: string) => parseVersion(text);
const q = (text: string) => new Quirks(v(text));

// Vectors recorded from siderolabs/go-procfs procfs/cmdline_test.go (HEAD 9f72b22).
describe('Cmdline: go-procfs vectors', () => {
  it('parses and groups by key (TestNewCmdline, TestCmdlineString, TestCmdlineStrings)', () => {
    expect(Cmdline.parse('').toString()).toBe('');
    const c = Cmdline.parse('boot=xyz root=/dev/abc nogui console=tty0 console=ttyS0,9600');
    expect(c.keys()).toEqual(['boot', 'root', 'nogui', 'console']);
    expect(c.get('console')).toEqual(['tty0', 'ttyS0,9600']);
    expect(c.get('nogui')).toEqual(['']);
    expect(c.toString()).toBe('boot=xyz root=/dev/abc nogui console=tty0 console=ttyS0,9600');
    expect(c.strings()).toEqual(['boot=xyz', 'root=/dev/abc', 'nogui', 'console=tty0', 'console=ttyS0,9600']);
    const spaced = Cmdline.parse(' root=/dev/abc=1  nogui  \n');
    expect(spaced.get('root')).toEqual(['/dev/abc=1']);
    expect(spaced.keys()).toEqual(['root', 'nogui']);
    expect(Cmdline.parse('root=/dev/sda root=/dev/sdb').get('root')).toEqual(['/dev/sda', '/dev/sdb']);
  });

  it('sets (TestCmdlineSet)', () => {
    const cases: Array<[string, string, string[], string]> = [
      ['root=/dev/sda root=/dev/sdb', 'root', ['/dev/sdc'], 'root=/dev/sdc'],
      ['boot=xyz root=/dev/abc nogui console=tty0 console=ttyS0,9600', 'console', [''], 'boot=xyz root=/dev/abc nogui console'],
      ['initrd=initramfs.xz', 'initrd', ['/ROOT-A/initramfs.xz'], 'initrd=/ROOT-A/initramfs.xz'],
      ['', 'initrd', ['/ROOT-A/initramfs.xz'], 'initrd=/ROOT-A/initramfs.xz'],
    ];
    for (const [initial, key, values, expected] of cases) {
      const c = Cmdline.parse(initial);
      c.set(key, values);
      expect(c.get(key)).toEqual(values);
      expect(c.toString()).toBe(expected);
    }
  });

  it('deletes values (TestCmdlineDelete)', () => {
    const long = 'console=tty0 console=ttyS0,9600 root=/dev/sda panic=0 console=ttyS0,115000';
    const cases: Array<[string, string, string[], string]> = [
      ['console=tty0', 'console', [''], 'console=tty0'],
      ['console=tty0', 'console', ['tty'], 'console=tty0'],
      ['console=tty0', 'console', ['tty0'], ''],
      ['console=tty0 console=ttyS0,9600', 'console', ['ttyS0,9600'], 'console=tty0'],
      [long, 'console', ['ttyS0,9600'], 'console=tty0 console=ttyS0,115000 root=/dev/sda panic=0'],
      ['root=/dev/sda panic=0', 'console', ['ttyS0,9600'], 'root=/dev/sda panic=0'],
      [long, 'console', ['ttyS0,96000'], 'console=tty0 console=ttyS0,9600 console=ttyS0,115000 root=/dev/sda panic=0'],
      [long, 'consoles', ['ttyS0,9600'], 'console=tty0 console=ttyS0,9600 console=ttyS0,115000 root=/dev/sda panic=0'],
      ['console=tty0 console=ttyS0,9600', 'console', ['ttyS0,9600', 'tty0'], ''],
      [long, 'console', ['ttyS0,9600', 'tty0'], 'console=ttyS0,115000 root=/dev/sda panic=0'],
    ];
    for (const [initial, key, values, expected] of cases) {
      const c = Cmdline.parse(initial);
      c.delete(key, values);
      expect(c.toString()).toBe(expected);
    }
  });

  it('deletes keys (TestCmdlineDeleteAll)', () => {
    const c = Cmdline.parse('console=tty0 console=ttyS0,9600 root=/dev/sda panic=0 console=ttyS0,115000');
    c.deleteAll('console');
    expect(c.toString()).toBe('root=/dev/sda panic=0');
  });

  it('appends (TestCmdlineAppend)', () => {
    const a = Cmdline.parse('root=/dev/sda root=/dev/sdb');
    a.append('root', '/dev/sdc');
    expect(a.get('root')).toEqual(['/dev/sda', '/dev/sdb', '/dev/sdc']);
    const b = Cmdline.parse('boot=xyz root=/dev/abc nogui');
    b.append('console', 'tty0');
    expect(b.get('console')).toEqual(['tty0']);
  });

  it('appends all, with overwrite and negation (TestCmdlineAppendAll)', () => {
    const both = { overwrite: ['console'], deleteNegated: true };
    const cases: Array<[string, string[], Parameters<Cmdline['appendAll']>[1], string]> = [
      ['ip=dhcp console=x root=/dev/sdc', ['root=/dev/sda', 'root=/dev/sdb'], {}, 'ip=dhcp console=x root=/dev/sdc root=/dev/sda root=/dev/sdb'],
      ['root=/dev/sdb', ['this=that=those'], {}, 'root=/dev/sdb this=that=those'],
      [
        'console=tty0 console=ttyS0 root=/dev/sdb',
        ['console=tty0', 'console=ttyS1,115200', 'nogui'],
        {},
        'console=tty0 console=ttyS0 console=tty0 console=ttyS1,115200 root=/dev/sdb nogui',
      ],
      [
        'console=tty0 console=ttyS0 root=/dev/sdb',
        ['console=tty0', 'console=ttyS1,115200', 'nogui'],
        { overwrite: ['console'] },
        'console=tty0 console=ttyS1,115200 root=/dev/sdb nogui',
      ],
      ['console=tty0 console=ttyS0 root=/dev/sdb', ['-console', 'nogui'], both, 'root=/dev/sdb nogui'],
      ['console=tty0 console=ttyS0,9600 root=/dev/sdb', ['-console', 'nogui'], { deleteNegated: true }, 'root=/dev/sdb nogui'],
      [
        'console=tty0 console=ttyS0,9600 root=/dev/sdb',
        ['-console=ttyS0,9600', 'nogui'],
        { deleteNegated: true },
        'console=tty0 root=/dev/sdb nogui',
      ],
      ['console=tty0 console=ttyS0 root=/dev/sdb', ['-console=tty0', 'nogui'], both, 'console=ttyS0 root=/dev/sdb nogui'],
      ['console=tty0 console=ttyS0 root=/dev/sdb', ['-console', 'nogui', 'console=ttyAMA0'], both, 'root=/dev/sdb nogui console=ttyAMA0'],
      [
        'console=tty0 console=ttyS0 root=/dev/sdb',
        ['-console=tty0', 'nogui', 'console=ttyAMA0'],
        { deleteNegated: true },
        'console=ttyS0 console=ttyAMA0 root=/dev/sdb nogui',
      ],
      [
        'console=tty0 console=ttyS0 root=/dev/sdb',
        ['-console=tty0', 'nogui', 'console=ttyAMA0'],
        both,
        'console=ttyAMA0 root=/dev/sdb nogui',
      ],
    ];
    for (const [initial, args, options, expected] of cases) {
      const c = Cmdline.parse(initial);
      c.appendAll(args, options);
      expect(c.toString()).toBe(expected);
      expect(new Set(c.keys()).size).toBe(c.keys().length);
    }
  });

  it('sets all (TestCmdlineSetAll)', () => {
    const a = Cmdline.empty();
    a.setAll(['root=/dev/sda', 'root=/dev/sdb']);
    expect(a.toString()).toBe('root=/dev/sda root=/dev/sdb');
    const b = Cmdline.parse('root=/dev/sdb root=/dev/sdc aye=sir');
    b.setAll(['root=/dev/mmcblk0']);
    expect(b.toString()).toBe('root=/dev/mmcblk0 aye=sir');
  });
});

// Behaviour that follows from go-procfs' code (read for facts, not copied).
describe('Cmdline: go-procfs edge cases', () => {
  it('prints `k=` as a bare `k`', () => {
    expect(Cmdline.parse('slab_nomerge= pti=on').toString()).toBe('slab_nomerge pti=on');
  });

  it('splits on Go whitespace, not on JavaScript whitespace', () => {
    expect(Cmdline.parse('a=1\u0085b=2\u3000c').keys()).toEqual(['a', 'b', 'c']);
    expect(Cmdline.parse('a=1\ufeffb=2').keys()).toEqual(['a']);
  });

  it('groups negations and values before applying them', () => {
    // a=[1,2] is appended first, then -a deletes the whole key.
    const c = Cmdline.parse('x');
    c.applyUserArgs(['a=1', '-a', 'a=2']);
    expect(c.toString()).toBe('x');
  });

  it('keeps the position of a key emptied by value deletion', () => {
    const c = Cmdline.parse('console=tty0 root=/dev/sda');
    c.applyUserArgs(['-console=tty0']);
    expect(c.toString()).toBe('root=/dev/sda');
    c.append('console', 'ttyS0');
    expect(c.toString()).toBe('console=ttyS0 root=/dev/sda');
  });

  it('treats a lone `-` as an argument and `-k -k=v` as deleting the key', () => {
    const c = Cmdline.parse('k=v k=w');
    c.applyUserArgs(['-', '-k', '-k=v']);
    expect(c.toString()).toBe('-');
  });

  it('overwrites talos.platform and console from user args, appends anything else', () => {
    const c = Cmdline.parse('talos.platform=metal console=tty0 console=ttyS0 net.ifnames=0');
    c.applyUserArgs(['talos.platform=nocloud', 'net.ifnames=1', 'console=ttyS1']);
    expect(c.toString()).toBe('talos.platform=nocloud console=ttyS1 net.ifnames=0 net.ifnames=1');
  });
});

const keyArb = fc.stringMatching(/^[a-z][a-z0-9_.]{0,6}$/);
const valueArb = fc.oneof(fc.constant(''), fc.stringMatching(/^[a-zA-Z0-9,/.:=]{1,6}$/));
const argArb = fc.tuple(keyArb, valueArb).map(([k, val]) => (val === '' ? k : `${k}=${val}`));
const argsArb = fc.array(argArb, { maxLength: 12 });

/** A naive model of the semantics: tokens grouped by key in first-seen order. */
function model(args: string[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const arg of args) {
    const eq = arg.indexOf('=');
    const key = eq < 0 ? arg : arg.slice(0, eq);
    const value = eq < 0 ? '' : arg.slice(eq + 1);
    groups.set(key, [...(groups.get(key) ?? []), value]);
  }
  return groups;
}

function printModel(groups: Map<string, string[]>): string {
  return [...groups].flatMap(([k, values]) => values.map((val) => (val === '' ? k : `${k}=${val}`))).join(' ');
}

describe('Cmdline: properties', () => {
  it('prints what the grouping model prints', () => {
    fc.assert(fc.property(argsArb, (args) => Cmdline.parse(args.join(' ')).toString() === printModel(model(args))));
  });

  it('parse ∘ print is the identity on printed command lines', () => {
    fc.assert(
      fc.property(argsArb, (args) => {
        const printed = Cmdline.parse(args.join(' ')).toString();
        return Cmdline.parse(printed).toString() === printed;
      }),
    );
  });

  it('`-key` removes every value of the key and nothing else', () => {
    fc.assert(
      fc.property(argsArb, keyArb, (args, key) => {
        const c = Cmdline.parse(args.join(' '));
        c.applyUserArgs([`-${key}`]);
        const expected = model(args);
        expected.delete(key);
        return c.get(key) === undefined && c.toString() === printModel(expected);
      }),
    );
  });

  it('`-key=value` removes exactly that value', () => {
    fc.assert(
      fc.property(argsArb, keyArb, valueArb.filter((x) => x !== ''), (args, key, value) => {
        const c = Cmdline.parse(args.join(' '));
        c.applyUserArgs([`-${key}=${value}`]);
        const expected = model(args);
        const values = expected.get(key);
        if (values) expected.set(key, values.filter((x) => x !== value));
        return c.toString() === printModel(expected);
      }),
    );
  });

  it('console given by the user replaces all consoles', () => {
    fc.assert(
      fc.property(argsArb, fc.array(valueArb.filter((x) => x !== ''), { minLength: 1, maxLength: 3 }), (args, consoles) => {
        const c = Cmdline.parse(args.join(' '));
        c.applyUserArgs(consoles.map((x) => `console=${x}`));
        return JSON.stringify(c.get('console')) === JSON.stringify(consoles);
      }),
    );
  });

  it('appending never loses a token', () => {
    fc.assert(
      fc.property(argsArb, argsArb, (base, more) => {
        const c = Cmdline.parse(base.join(' '));
        c.appendAll(more);
        return c.toString() === printModel(model([...base, ...more]));
      }),
    );
  });
});

// siderolabs/talos pkg/machinery/kernel/kernel_test.go (TestDefaultKernelArgs, TestSecureBootArgs).
describe('default kernel args per version', () => {
  it('matches upstream', () => {
    expect(defaultKernelArgs(q('1.9.0'))).toEqual([
      'init_on_alloc=1',
      'slab_nomerge',
      'pti=on',
      'consoleblank=0',
      'nvme_core.io_timeout=4294967295',
      'printk.devkmsg=on',
      'ima_template=ima-ng',
      'ima_appraise=fix',
      'ima_hash=sha512',
    ]);
    const v12 = ['init_on_alloc=1', 'slab_nomerge', 'pti=on', 'consoleblank=0', 'nvme_core.io_timeout=4294967295', 'printk.devkmsg=on', 'selinux=1', 'module.sig_enforce=1'];
    expect(defaultKernelArgs(q('1.12.0'))).toEqual(v12);
    expect(defaultKernelArgs(q('1.13.0'))).toEqual([...v12, 'proc_mem.force_override=never']);
    expect(defaultKernelArgs(q('1.14.0'))).toEqual([
      'slab_nomerge',
      'pti=on',
      'consoleblank=0',
      'printk.devkmsg=on',
      'selinux=1',
      'module.sig_enforce=1',
      'proc_mem.force_override=never',
    ]);
    expect(secureBootKernelArgs(q('1.13.0'))).toEqual(['lockdown=confidentiality']);
    expect(secureBootKernelArgs(q('1.14.0'))).toEqual([]);
  });

  it('counts a pre-release as its release, and keeps IMA through 1.10.x', () => {
    expect(defaultKernelArgs(q('1.14.0-beta.1'))).toEqual(defaultKernelArgs(q('1.14.0')));
    expect(q('1.10.99').supportsIma()).toBe(true);
    expect(q('1.11.0-alpha.0').supportsIma()).toBe(false);
    expect(q('1.6.2').supportsCompressedMeta()).toBe(false);
    expect(q('1.6.3-alpha.1').supportsCompressedMeta()).toBe(true);
  });
});

const cmdline = (version: string, platform: string, arch: string, extra: Partial<KernelCmdlineInput> = {}) =>
  buildKernelCmdline({ version: v(version), platform, arch, kind: 'cmdline', secureBoot: false, ...extra });

// siderolabs/talos pkg/imager/imager_test.go (TestImager, cmdline outputs).
describe('command lines: Talos imager vectors', () => {
  const cases: Array<[string, string, string, string]> = [
    ['1.7.0', 'metal', 'amd64', 'talos.platform=metal console=ttyS0 console=tty0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on ima_template=ima-ng ima_appraise=fix ima_hash=sha512'],
    ['1.7.0', 'metal', 'arm64', 'talos.platform=metal console=ttyAMA0 console=tty0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on ima_template=ima-ng ima_appraise=fix ima_hash=sha512'],
    ['1.8.0', 'metal', 'amd64', 'talos.platform=metal console=tty0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on ima_template=ima-ng ima_appraise=fix ima_hash=sha512'],
    ['1.8.0', 'metal', 'arm64', 'talos.platform=metal console=ttyAMA0 console=tty0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on ima_template=ima-ng ima_appraise=fix ima_hash=sha512'],
    ['1.10.1', 'metal', 'amd64', 'talos.platform=metal console=tty0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on ima_template=ima-ng ima_appraise=fix ima_hash=sha512 selinux=1'],
    ['1.10.1', 'metal', 'arm64', 'talos.platform=metal console=ttyAMA0 console=tty0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on ima_template=ima-ng ima_appraise=fix ima_hash=sha512 selinux=1'],
    ['1.11.0', 'metal', 'amd64', 'talos.platform=metal console=tty0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on selinux=1'],
    ['1.11.0', 'metal', 'arm64', 'talos.platform=metal console=ttyAMA0 console=tty0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on selinux=1'],
    ['1.13.0', 'metal', 'amd64', 'talos.platform=metal console=tty0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on selinux=1 module.sig_enforce=1 proc_mem.force_override=never'],
    ['1.13.0', 'metal', 'arm64', 'talos.platform=metal console=ttyAMA0 console=tty0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on selinux=1 module.sig_enforce=1 proc_mem.force_override=never'],
    ['1.13.0', 'aws', 'amd64', 'talos.platform=aws console=tty1 console=ttyS0 net.ifnames=0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on selinux=1 module.sig_enforce=1 proc_mem.force_override=never'],
    ['1.13.0', 'aws', 'arm64', 'talos.platform=aws console=tty1 console=ttyS0 net.ifnames=0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on selinux=1 module.sig_enforce=1 proc_mem.force_override=never'],
    ['1.14.0', 'metal', 'amd64', 'talos.platform=metal console=tty0 slab_nomerge pti=on consoleblank=0 printk.devkmsg=on selinux=1 module.sig_enforce=1 proc_mem.force_override=never'],
    ['1.14.0', 'metal', 'arm64', 'talos.platform=metal console=ttyAMA0 console=tty0 slab_nomerge pti=on consoleblank=0 printk.devkmsg=on selinux=1 module.sig_enforce=1 proc_mem.force_override=never'],
    ['1.14.0', 'aws', 'amd64', 'talos.platform=aws console=tty1 console=ttyS0 net.ifnames=0 nvme_core.io_timeout=4294967295 slab_nomerge pti=on consoleblank=0 printk.devkmsg=on selinux=1 module.sig_enforce=1 proc_mem.force_override=never'],
    ['1.14.0', 'aws', 'arm64', 'talos.platform=aws console=tty1 console=ttyS0 net.ifnames=0 nvme_core.io_timeout=4294967295 slab_nomerge pti=on consoleblank=0 printk.devkmsg=on selinux=1 module.sig_enforce=1 proc_mem.force_override=never'],
  ];
  it.each(cases)('%s %s %s', (version, platform, arch, expected) => {
    expect(cmdline(version, platform, arch)).toBe(expected);
  });
});

// siderolabs/image-factory internal/integration/download_test.go ("cmdline" tests: default metal,
// default aws, extra metal with schematic extraKernelArgs [nolapic, nomodeset], meta contents with
// META {0xa: {"externalIPs":["1.2.3.4"]}}), for its version list, with its per-version rewrites applied.
describe('command lines: Image Factory integration vectors', () => {
  const versions = ['v1.13.0', 'v1.11.0', 'v1.10.2', 'v1.9.4', 'v1.8.2', 'v1.5.1'];
  const expectedMetal: Record<string, string> = {
    'v1.13.0': 'talos.platform=metal console=tty0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on selinux=1 module.sig_enforce=1 proc_mem.force_override=never',
    'v1.11.0': 'talos.platform=metal console=tty0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on selinux=1',
    'v1.10.2': 'talos.platform=metal console=tty0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on ima_template=ima-ng ima_appraise=fix ima_hash=sha512 selinux=1',
    'v1.9.4': 'talos.platform=metal console=tty0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on ima_template=ima-ng ima_appraise=fix ima_hash=sha512',
    'v1.8.2': 'talos.platform=metal console=tty0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on ima_template=ima-ng ima_appraise=fix ima_hash=sha512',
    'v1.5.1': 'talos.platform=metal console=ttyS0 console=tty0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on ima_template=ima-ng ima_appraise=fix ima_hash=sha512',
  };
  const expectedAws: Record<string, string> = {
    'v1.13.0': 'talos.platform=aws console=tty1 console=ttyS0 net.ifnames=0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on selinux=1 module.sig_enforce=1 proc_mem.force_override=never',
    'v1.11.0': 'talos.platform=aws console=tty1 console=ttyS0 net.ifnames=0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on selinux=1',
    'v1.10.2': 'talos.platform=aws console=tty1 console=ttyS0 net.ifnames=0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on ima_template=ima-ng ima_appraise=fix ima_hash=sha512 selinux=1',
    'v1.9.4': 'talos.platform=aws console=tty1 console=ttyS0 net.ifnames=0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on ima_template=ima-ng ima_appraise=fix ima_hash=sha512',
    'v1.8.2': 'talos.platform=aws console=tty1 console=ttyS0 net.ifnames=0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on ima_template=ima-ng ima_appraise=fix ima_hash=sha512',
    'v1.5.1': 'talos.platform=aws console=tty1 console=ttyS0 net.ifnames=0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on ima_template=ima-ng ima_appraise=fix ima_hash=sha512',
  };
  const extraArgsSchematic = { customization: { extraKernelArgs: ['nolapic', 'nomodeset'], meta: null } };
  const metaSchematic = { customization: { extraKernelArgs: null, meta: [{ key: 0xan, value: '{"externalIPs":["1.2.3.4"]}' }] } };

  it.each(versions)('%s', (tag) => {
    const version = v(tag.slice(1));
    const build = (platform: string, arch: string, schematic: SchematicCmdlineParts = { customization: { extraKernelArgs: null, meta: null } }) =>
      buildKernelCmdline({
        version,
        platform,
        arch,
        kind: 'cmdline',
        secureBoot: false,
        ...cmdlineCustomization(schematic, 'cmdline', version, false),
      });
    expect(build('metal', 'amd64')).toBe(expectedMetal[tag]);
    expect(build('aws', 'arm64')).toBe(expectedAws[tag]);
    expect(build('metal', 'amd64', extraArgsSchematic)).toBe(`${expectedMetal[tag]} nolapic nomodeset`);
    expect(build('metal', 'amd64', metaSchematic)).toBe(
      `${expectedMetal[tag]} talos.environment=INSTALLER_META_BASE64=MHhhPXsiZXh0ZXJuYWxJUHMiOlsiMS4yLjMuNCJdfQ==`,
    );
  });

  // download_test.go "installer" UKI cmdline with the extra-args schematic (unified installer versions only).
  it('passes schematic kernel args to installers from 1.10 or with SecureBoot, never META', () => {
    const both = { customization: { extraKernelArgs: ['nolapic'], meta: [{ key: 10n, value: 'x' }] } };
    expect(cmdlineCustomization(both, 'installer', v('1.11.0'), false)).toEqual({ extraKernelArgs: ['nolapic'], meta: [] });
    expect(cmdlineCustomization(both, 'uki', v('1.9.0'), false)).toEqual({ extraKernelArgs: [], meta: [] });
    expect(cmdlineCustomization(both, 'uki', v('1.9.0'), true)).toEqual({ extraKernelArgs: ['nolapic'], meta: [] });
    expect(cmdlineCustomization(both, 'kernel', v('1.11.0'), false)).toEqual({ extraKernelArgs: [], meta: [] });
    for (const kind of ['iso', 'image', 'cmdline'] as const) {
      expect(cmdlineCustomization(both, kind, v('1.5.0'), false)).toEqual({ extraKernelArgs: ['nolapic'], meta: [{ key: 10n, value: 'x' }] });
    }
    const version = v('1.11.0');
    expect(
      buildKernelCmdline({ version, platform: 'metal', arch: 'amd64', kind: 'installer', secureBoot: false, extraKernelArgs: ['nolapic', 'nomodeset'] }),
    ).toBe(`${expectedMetal['v1.11.0']} nolapic nomodeset`);
  });
});

describe('command line builder', () => {
  it('adds talos.halt_if_installed to ISOs from 1.8 (talos-imager.md §1.3 example)', () => {
    const iso = (version: string) => buildKernelCmdline({ version: v(version), platform: 'metal', arch: 'amd64', kind: 'iso', secureBoot: false });
    expect(iso('1.14.0')).toBe(
      'talos.platform=metal console=tty0 talos.halt_if_installed=1 slab_nomerge pti=on consoleblank=0 printk.devkmsg=on selinux=1 module.sig_enforce=1 proc_mem.force_override=never',
    );
    expect(iso('1.7.0')).not.toContain('halt_if_installed');
    expect(cmdline('1.14.0', 'metal', 'amd64', { kind: 'uki' })).not.toContain('halt_if_installed');
  });

  it('adds lockdown=confidentiality for SecureBoot before 1.14 only', () => {
    expect(cmdline('1.13.0', 'metal', 'amd64', { secureBoot: true })).toMatch(/ proc_mem\.force_override=never lockdown=confidentiality$/);
    expect(cmdline('1.14.0', 'metal', 'amd64', { secureBoot: true })).toBe(cmdline('1.14.0', 'metal', 'amd64'));
  });

  it('lets overlay args replace platform args and user args remove defaults', () => {
    const line = cmdline('1.14.0', 'metal', 'arm64', {
      overlayKernelArgs: ['console=tty0', 'console=ttyS2,115200', 'sysctl.kernel.kexec_load_disabled=1'],
      extraKernelArgs: ['-selinux', '-slab_nomerge', 'talos.dashboard.disabled=1'],
    });
    expect(line).toBe(
      'talos.platform=metal console=tty0 console=ttyS2,115200 sysctl.kernel.kexec_load_disabled=1 pti=on consoleblank=0 printk.devkmsg=on module.sig_enforce=1 proc_mem.force_override=never talos.dashboard.disabled=1',
    );
  });

  it('prints equinixMetal for the packet alias (pxe_test.go equinix vector, 1.5.0)', () => {
    const expected =
      'talos.platform=equinixMetal console=ttyS1,115200n8 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on ima_template=ima-ng ima_appraise=fix ima_hash=sha512';
    expect(cmdline('1.5.0', 'equinixMetal', 'amd64')).toBe(expected);
    expect(cmdline('1.5.0', 'packet', 'amd64')).toBe(expected);
  });

  it('leaves META out of disk images and rejects it for installers', () => {
    const meta = [{ key: 10, value: 'x' }];
    expect(cmdline('1.11.0', 'metal', 'amd64', { kind: 'image', meta })).toBe(cmdline('1.11.0', 'metal', 'amd64'));
    expect(cmdline('1.11.0', 'metal', 'amd64', { kind: 'uki', meta })).toContain('talos.environment=INSTALLER_META_BASE64=MHhhPXg=');
    expect(() => cmdline('1.11.0', 'metal', 'amd64', { kind: 'installer', meta })).toThrow(
      new UnsupportedCustomizationError('customization of meta partition is not supported for installer output'),
    );
    expect(() => cmdline('1.11.0', 'metal', 'amd64', { kind: 'kernel', extraKernelArgs: ['a'] })).toThrow(
      'customization of kernel args is not supported for kernel output',
    );
    expect(() => cmdline('1.11.0', 'metal', 'amd64', { kind: 'initramfs', secureBoot: true })).toThrow(
      'secureboot is not supported for initramfs output',
    );
  });

  it('applies the imager profile checks first', () => {
    expect(() => cmdline('1.11.0', 'metal', 'riscv64')).toThrow(new UnsupportedCustomizationError('invalid arch "riscv64"'));
    expect(() => cmdline('1.11.0', '', 'amd64')).toThrow('platform is required');
    expect(() => cmdline('1.4.0', 'metal', 'amd64', { secureBoot: true })).toThrow('secureboot is not supported for Talos version "v1.4.0"');
    expect(cmdline('1.5.0-alpha.0', 'metal', 'amd64', { secureBoot: true })).toContain('lockdown=confidentiality');
  });

  it('rejects an unknown platform with the runtime text', () => {
    expect(() => cmdline('1.11.0', 'foo-bar', 'amd64')).toThrow(new UnknownPlatformError('unknown platform: "foo-bar"'));
  });
});

/** What Talos' DecodeValues does: base64, gunzip when gzip magic, split on ';', parse 0x keys. */
function decodeMeta(text: string): Array<{ key: number; value: string }> {
  let bytes = Buffer.from(text, 'base64');
  if (bytes.length >= 10 && bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
  return bytes
    .toString('utf8')
    .split(';')
    .map((part) => {
      const eq = part.indexOf('=');
      return { key: Number(part.slice(0, eq)), value: part.slice(eq + 1) };
    });
}

// siderolabs/talos pkg/machinery/meta/meta_test.go (TestValue, TestEncodeDecodeValues).
describe('META encoding', () => {
  it('encodes keys as 0x<hex> and joins with ;', () => {
    expect(Buffer.from(encodeMetaValues([{ key: 10, value: 'foo' }], false), 'base64').toString()).toBe('0xa=foo');
    expect(encodeMetaValues([{ key: 10, value: 'foo' }, { key: 0xb, value: 'bar' }], false)).toHaveLength(20);
    expect(encodeMetaValues([{ key: 10, value: 'foo' }, { key: 0xb, value: 'bar' }], true)).toHaveLength(20);
    expect(Buffer.from(encodeMetaValues([{ key: 0n, value: '' }, { key: 255n, value: 'a=b' }], false), 'base64').toString()).toBe('0x0=;0xff=a=b');
    expect(() => encodeMetaValues([{ key: 256, value: '' }], false)).toThrow(RangeError);
  });

  it('gzips payloads over 256 bytes when allowed, with the header Go writes', () => {
    const huge = [
      { key: 10, value: 'foobar'.repeat(256) },
      { key: 0xb, value: 'baz'.repeat(256) },
    ];
    expect(encodeMetaValues(huge, false)).toHaveLength(3084);
    const gz = Buffer.from(encodeMetaValues(huge, true), 'base64');
    // magic, deflate, no flags, mtime 0, XFL 2 (best compression), OS 255 (unknown).
    expect([...gz.subarray(0, 10)]).toEqual([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x02, 0xff]);
    // Upstream's Go deflate gives 80 base64 characters here; zlib's level 9 is as small or smaller.
    expect(encodeMetaValues(huge, true).length).toBeLessThanOrEqual(80);
    expect(decodeMeta(encodeMetaValues(huge, true))).toEqual(huge);

    const exactly256 = [{ key: 1, value: 'x'.repeat(256 - '0x1='.length) }];
    expect(Buffer.from(encodeMetaValues(exactly256, true), 'base64')[0]).toBe(0x30);
  });

  it('round-trips through the Talos decoding', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ key: fc.integer({ min: 0, max: 255 }), value: fc.string({ unit: 'grapheme', maxLength: 120 }).filter((s) => !s.includes(';')) }), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.boolean(),
        (values, gzip) => JSON.stringify(decodeMeta(encodeMetaValues(values, gzip))) === JSON.stringify(values),
      ),
    );
  });
});

// talos-imager.md §1.3 platform table, checked against the platforms' KernelArgs in siderolabs/talos.
describe('platform kernel args', () => {
  const latest = q('1.14.0');
  const older = q('1.7.0');
  const table: Array<[string, string, string[]]> = [
    ['aws', 'amd64', ['console=tty1', 'console=ttyS0', 'net.ifnames=0', 'nvme_core.io_timeout=4294967295']],
    ['azure', 'amd64', ['console=ttyS0,115200n8', 'earlyprintk=ttyS0,115200', 'rootdelay=300', 'net.ifnames=0', 'talos.dashboard.disabled=1', 'sysctl.kernel.kexec_load_disabled=1']],
    ['gcp', 'arm64', ['console=ttyS0', 'net.ifnames=0', 'talos.dashboard.disabled=1', 'sysctl.kernel.kexec_load_disabled=1']],
    ['akamai', 'amd64', ['console=ttyS0', 'console=tty0', 'console=tty1', 'net.ifnames=0']],
    ['digital-ocean', 'amd64', ['console=ttyS0', 'console=tty0', 'console=tty1', 'net.ifnames=0']],
    ['oracle', 'arm64', ['console=tty1', 'console=ttyS0', 'net.ifnames=0', 'talos.dashboard.disabled=1']],
    ['scaleway', 'amd64', ['console=tty1', 'console=ttyS0', 'net.ifnames=0', 'talos.dashboard.disabled=1']],
    ['upcloud', 'amd64', ['net.ifnames=0']],
    ['vultr', 'amd64', ['net.ifnames=0']],
    ['vmware', 'amd64', ['talos.config=guestinfo', 'console=tty0', 'console=ttyS0', 'earlyprintk=ttyS0,115200', 'net.ifnames=0']],
    ['vmware', 'arm64', ['talos.config=guestinfo', 'console=tty0', 'console=ttyAMA0', 'net.ifnames=0']],
    ['equinixMetal', 'arm64', ['console=ttyAMA0,115200']],
    ['container', 'amd64', []],
    ['metal', 'arm64', ['console=ttyAMA0', 'console=tty0']],
  ];
  for (const name of ['alibabacloud', 'cloudstack', 'exoscale', 'hcloud', 'nocloud', 'opennebula', 'openstack']) {
    table.push([name, 'amd64', ['console=tty1', 'console=ttyS0', 'net.ifnames=0']]);
  }
  it.each(table)('%s %s', (name, arch, expected) => {
    expect(getPlatform(name).kernelArgs(arch, latest)).toEqual(expected);
  });

  it('changes with the version where upstream does', () => {
    expect(getPlatform('aws').kernelArgs('amd64', older)).toEqual(['console=tty1', 'console=ttyS0', 'net.ifnames=0']);
    expect(getPlatform('metal').kernelArgs('amd64', older)).toEqual(['console=ttyS0', 'console=tty0']);
    expect(getPlatform('metal').kernelArgs('amd64', latest)).toEqual(['console=tty0']);
  });

  it('knows the runtime platform names and the packet alias', () => {
    expect(allPlatforms().map((p) => p.name).sort()).toEqual(
      [
        'akamai', 'alibabacloud', 'aws', 'azure', 'cloudstack', 'container', 'digital-ocean', 'equinixMetal', 'exoscale', 'gcp',
        'hcloud', 'metal', 'nocloud', 'opennebula', 'openstack', 'oracle', 'scaleway', 'upcloud', 'vmware', 'vultr',
      ].sort(),
    );
    expect(findPlatform('packet')?.name).toBe('equinixMetal');
    expect(findPlatform('Metal')).toBeUndefined();
  });
});
