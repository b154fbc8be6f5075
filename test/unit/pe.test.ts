// The UKI assembler and the Talos section builders. A hand-made stub pins the
// layout rules byte by byte (e_lfanew 0x80, sections after the stub's at the
// next SectionAlignment, raw data back to back, recomputed sizes, checksum
// and linker version zeroed); systemd-stub from systemd-boot-efi is then
// judged by binutils (objdump -h lists our sections with their sizes and
// flags, objcopy dumps back the exact bytes) and sbverify.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import {
  MAIN_PROFILE_ID,
  bzImageKernelVersion,
  extraUkiProfiles,
  osRelease,
  profileText,
  supportsUkiProfiles,
  talosUkiSections,
} from '../../src/build/uki/sections.js';
import { APPENDED_SECTION_FLAGS, PeFile, PeFormatError, assembleUki, parsePeHeaders, planUki, type UkiSection } from '../../src/formats/pe/index.js';
import { noise } from '../helpers/squashfs-trees.js';
import { skipUnlessCi } from '../helpers/tool-skip.js';

const WORK = mkdtempSync(join(tmpdir(), 'pe-test-'));
let counter = 0;
const scratch = (label: string): string => join(WORK, `${label}-${counter++}`);
afterAll(() => rmSync(WORK, { recursive: true, force: true }));

const HOST_STUB = '/usr/lib/systemd/boot/efi/linuxx64.efi.stub';
const IMAGE_BASE = 0x14df90000n;

interface StubOptions {
  magic?: number;
  signed?: boolean;
  symbols?: boolean;
  sectionName?: string;
}

/**
 * A PE32+ EFI application shaped like systemd-stub 257 (ImageBase above 4 GiB,
 * SectionAlignment 0x1000, FileAlignment 0x200): a DOS stub program, .text and
 * .reloc with noise for contents, e_lfanew 0xc0.
 */
function makeStub(options: StubOptions = {}): Buffer {
  const peOffset = 0xc0;
  const symbols = options.symbols ? Buffer.alloc(18 * 3 + 4, 0x11) : Buffer.alloc(0);
  const out = Buffer.alloc(0xa00 + symbols.length);
  out.write('MZ', 0, 'latin1');
  out.write('This program cannot be run in DOS mode.', 0x4e, 'latin1');
  out.writeUInt32LE(peOffset, 0x3c);
  out.write('PE\0\0', peOffset, 'latin1');
  const c = peOffset + 4;
  out.writeUInt16LE(0x8664, c);
  out.writeUInt16LE(2, c + 2);
  out.writeUInt32LE(0x5cf91c9c, c + 4);
  if (options.symbols) {
    out.writeUInt32LE(0xa00, c + 8);
    out.writeUInt32LE(3, c + 12);
    symbols.copy(out, 0xa00);
  }
  out.writeUInt16LE(240, c + 16);
  out.writeUInt16LE(0x22e, c + 18);
  const o = c + 20;
  out.writeUInt16LE(options.magic ?? 0x20b, o);
  out[o + 2] = 14;
  out[o + 3] = 7;
  out.writeUInt32LE(0x400, o + 4);
  out.writeUInt32LE(0x200, o + 8);
  out.writeUInt32LE(0x1000, o + 16);
  out.writeUInt32LE(0x1000, o + 20);
  out.writeBigUInt64LE(IMAGE_BASE, o + 24);
  out.writeUInt32LE(0x1000, o + 32);
  out.writeUInt32LE(0x200, o + 36);
  out.writeUInt16LE(257, o + 44);
  out.writeUInt16LE(2, o + 46);
  out.writeUInt32LE(0x3000, o + 56);
  out.writeUInt32LE(0x400, o + 60);
  out.writeUInt32LE(0xabcd, o + 64);
  out.writeUInt16LE(10, o + 68);
  out.writeUInt16LE(0x160, o + 70);
  out.writeBigUInt64LE(0x100000n, o + 72);
  out.writeUInt32LE(16, o + 108);
  out.writeUInt32LE(0x2000, o + 112 + 5 * 8);
  out.writeUInt32LE(0x0c, o + 112 + 5 * 8 + 4);
  if (options.signed) {
    out.writeUInt32LE(0xa00, o + 112 + 4 * 8);
    out.writeUInt32LE(0x100, o + 112 + 4 * 8 + 4);
  }
  const s = o + 240;
  const section = (i: number, name: string, vsize: number, va: number, raw: number, ptr: number, flags: number) => {
    out.write(name, s + i * 40, 'latin1');
    out.writeUInt32LE(vsize, s + i * 40 + 8);
    out.writeUInt32LE(va, s + i * 40 + 12);
    out.writeUInt32LE(raw, s + i * 40 + 16);
    out.writeUInt32LE(ptr, s + i * 40 + 20);
    out.writeUInt32LE(flags, s + i * 40 + 36);
  };
  section(0, options.sectionName ?? '.text', 0x234, 0x1000, 0x400, 0x400, 0x60000020);
  section(1, '.reloc', 0x0c, 0x2000, 0x200, 0x800, 0x42000040);
  noise('text', 0x400).copy(out, 0x400);
  noise('reloc', 0x200).copy(out, 0x800);
  return out;
}

function stubFile(options: StubOptions = {}): string {
  const path = scratch('stub');
  writeFileSync(path, makeStub(options));
  return path;
}

describe('assembling on a stub', () => {
  const osrel = Buffer.from('ID=test\n\0\0'); // 10 bytes
  const linux = noise('linux', 5000);

  async function build(timestamp = 1_700_000_000): Promise<{ out: Buffer; stub: Buffer; path: string }> {
    const stub = stubFile();
    const linuxPath = scratch('linux');
    writeFileSync(linuxPath, linux);
    const path = scratch('uki');
    await assembleUki({ stub, timestamp, sections: [{ name: '.osrel', source: { data: osrel } }, { name: '.linux', source: { path: linuxPath } }] }, path);
    return { out: readFileSync(path), stub: readFileSync(stub), path };
  }

  it('rewrites the DOS header to point at 0x80 and keeps the COFF header but for count and time', async () => {
    const { out, stub } = await build();
    expect(out.subarray(0, 0x3c)).toEqual(stub.subarray(0, 0x3c));
    expect(out.readUInt32LE(0x3c)).toBe(0x80);
    expect(out.subarray(0x40, 0x80)).toEqual(Buffer.alloc(0x40));
    expect(out.toString('latin1', 0x80, 0x84)).toBe('PE\0\0');
    expect(out.readUInt16LE(0x84)).toBe(0x8664);
    expect(out.readUInt16LE(0x86)).toBe(4);
    expect(out.readUInt32LE(0x88)).toBe(1_700_000_000);
    expect(out.readUInt32LE(0x8c)).toBe(0);
    expect(out.readUInt32LE(0x90)).toBe(0);
    expect(out.readUInt16LE(0x94)).toBe(240);
    expect(out.readUInt16LE(0x96)).toBe(0x22e);
  });

  it('recomputes the optional header sizes, zeroes linker version and checksum, leaves the rest', async () => {
    const { out, stub } = await build();
    const opt = out.subarray(0x98, 0x98 + 240);
    const orig = stub.subarray(0xd8, 0xd8 + 240);
    expect(opt[2]).toBe(0);
    expect(opt[3]).toBe(0);
    expect(opt.readUInt32LE(4)).toBe(0x400); // SizeOfCode: .text
    expect(opt.readUInt32LE(8)).toBe(0x200 + 0x200 + 0x1400); // SizeOfInitializedData: .reloc, .osrel, .linux
    expect(opt.readUInt32LE(56)).toBe(0x6000); // SizeOfImage: align(0x4000 + 5000, 0x1000)
    expect(opt.readUInt32LE(60)).toBe(0x400); // SizeOfHeaders
    expect(opt.readUInt32LE(64)).toBe(0); // CheckSum
    for (const [from, to] of [
      [0, 2],
      [12, 56],
      [68, 240],
    ]) {
      expect(opt.subarray(from, to), `bytes ${from}..${to}`).toEqual(orig.subarray(from, to));
    }
  });

  it('places new sections after the stub: next SectionAlignment, raw size rounded to FileAlignment, raw data back to back', async () => {
    const { out, stub, path } = await build();
    const pe = await PeFile.open(path);
    expect(pe.sections.map(({ name, virtualAddress, virtualSize, rawOffset, rawSize, characteristics }) => [name, virtualAddress, virtualSize, rawOffset, rawSize, characteristics])).toEqual([
      ['.text', 0x1000, 0x234, 0x400, 0x400, 0x60000020],
      ['.reloc', 0x2000, 0x0c, 0x800, 0x200, 0x42000040],
      ['.osrel', 0x3000, 10, 0xa00, 0x200, APPENDED_SECTION_FLAGS],
      ['.linux', 0x4000, 5000, 0xc00, 0x1400, APPENDED_SECTION_FLAGS],
    ]);
    expect(APPENDED_SECTION_FLAGS).toBe(0x40000040);
    expect(out.length).toBe(0x2000);
    expect(out.subarray(0x188 + 4 * 40, 0x400)).toEqual(Buffer.alloc(0x400 - 0x188 - 4 * 40));
    expect(out.subarray(0x400, 0xa00)).toEqual(stub.subarray(0x400, 0xa00));
    expect(out.subarray(0xa00, 0xa0a)).toEqual(osrel);
    expect(out.subarray(0xa0a, 0xc00)).toEqual(Buffer.alloc(0xc00 - 0xa0a));
    expect(out.subarray(0xc00, 0xc00 + 5000)).toEqual(linux);
    expect(out.subarray(0xc00 + 5000)).toEqual(Buffer.alloc(0x2000 - 0xc00 - 5000));
  });

  it('reads sections back, whole or streamed', async () => {
    const { path } = await build();
    const pe = await PeFile.open(path);
    expect(await pe.readSection('.osrel')).toEqual(osrel);
    expect((await pe.readSection('.text')).length).toBe(0x234);
    const chunks: Buffer[] = [];
    for await (const chunk of pe.sectionStream('.linux')) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks)).toEqual(linux);
    expect(() => pe.section('.initrd')).toThrow(PeFormatError);
    expect(parsePeHeaders(readFileSync(path)).optional.imageBase).toBe(IMAGE_BASE);
  });

  it('gives the same bytes for the same inputs; the timestamp changes only TimeDateStamp', async () => {
    const a = await build();
    const b = await build();
    const c = await build(1);
    expect(a.out).toEqual(b.out);
    const differing = [...a.out.keys()].filter((i) => a.out[i] !== c.out[i]);
    expect(differing.every((i) => i >= 0x88 && i < 0x8c)).toBe(true);
  });

  it('streams what it plans, big sections from their files', async () => {
    const stub = stubFile();
    const big = scratch('big');
    writeFileSync(big, noise('big', 3 << 20));
    const plan = await planUki({ stub, sections: [{ name: '.initrd', source: { path: big } }] });
    const initrd = plan.image.extents.find((e) => e.source.kind === 'file' && e.source.path === big);
    expect(initrd?.length).toBe(3 << 20);
    const sink = new PassThrough();
    let size = 0;
    sink.on('data', (c: Buffer) => (size += c.length));
    await assembleUki({ stub, sections: [{ name: '.initrd', source: { path: big } }] }, sink);
    expect(size).toBe(plan.size);
  });

  it('drops a COFF symbol table, as objcopy --strip-all would', async () => {
    const stub = stubFile({ symbols: true });
    const path = scratch('uki');
    await assembleUki({ stub, sections: [{ name: '.cmdline', source: { data: Buffer.from('x') } }] }, path);
    const headers = parsePeHeaders(readFileSync(path));
    expect(headers.coff.pointerToSymbolTable).toBe(0);
    expect(headers.coff.numberOfSymbols).toBe(0);
  });

  it('refuses what it cannot lay out faithfully', async () => {
    const sections: UkiSection[] = [{ name: '.cmdline', source: { data: Buffer.from('x') } }];
    const out = scratch('uki');
    await expect(assembleUki({ stub: stubFile({ signed: true }), sections }, out)).rejects.toThrow(/Authenticode-signed/);
    await expect(assembleUki({ stub: stubFile({ magic: 0x10b }), sections }, out)).rejects.toThrow(/not PE32\+/);
    await expect(assembleUki({ stub: stubFile({ sectionName: '/4' }), sections }, out)).rejects.toThrow(/string table/);
    await expect(assembleUki({ stub: stubFile(), sections: [{ name: '.waytoolong', source: { data: Buffer.alloc(1) } }] }, out)).rejects.toThrow(/1\.\.8 printable/);
    await expect(assembleUki({ stub: stubFile(), sections, timestamp: -1 }, out)).rejects.toThrow(/32 bits/);
    const notPe = scratch('not-pe');
    writeFileSync(notPe, Buffer.alloc(4096));
    await expect(assembleUki({ stub: notPe, sections }, out)).rejects.toThrow(/no MZ signature/);
    // 0x1000 of headers holds 95 sections at most before it reaches .text at 0x1000.
    const many = Array.from({ length: 100 }, () => sections[0]!);
    await expect(assembleUki({ stub: stubFile(), sections: many }, out)).rejects.toThrow(/past the first section/);
  });
});

/** A file with the x86 boot protocol header announcing `version` (the kernel_version string). */
function fakeBzImage(version: string, options: { offset?: number; setupSectors?: number } = {}): Buffer {
  const buf = Buffer.alloc(0x4000);
  buf[0x1f1] = options.setupSectors ?? 0x1f;
  buf.write('HdrS', 0x202, 'latin1');
  const offset = options.offset ?? 0x3000;
  buf.writeUInt16LE(offset, 0x20e);
  buf.write(`${version} (builder@host) #1 SMP PREEMPT_DYNAMIC\0`, offset + 0x200, 'latin1');
  return buf;
}

describe('Talos UKI sections', () => {
  it('.osrel is os-release as Talos writes it', () => {
    expect(osRelease('v1.0.0')).toBe(
      'NAME="Talos"\nID=talos\nVERSION_ID=v1.0.0\nPRETTY_NAME="Talos (v1.0.0)"\nHOME_URL="https://www.talos.dev/"\nBUG_REPORT_URL="https://github.com/siderolabs/talos/issues"\nVENDOR_NAME="Sidero Labs"\nVENDOR_URL="https://www.siderolabs.com/"\n',
    );
    expect(osRelease('v1.0.0', 'Talos New')).toMatch(/^NAME="Talos New"\nID=talos_new\nVERSION_ID=v1.0.0\nPRETTY_NAME="Talos New \(v1.0.0\)"\n/);
  });

  it('.profile is ID=… with an optional TITLE=…, no trailing newline', () => {
    expect(profileText({ id: MAIN_PROFILE_ID })).toBe('ID=main');
    expect(profileText({ id: 'reset', title: 'Reset system disk' })).toBe('ID=reset\nTITLE=Reset system disk');
  });

  it('profiles exist from 1.10 (pre-releases count as their release, unparsable versions as the newest)', () => {
    expect(supportsUkiProfiles('v1.9.5')).toBe(false);
    expect(supportsUkiProfiles('v1.10.0-alpha.1')).toBe(true);
    expect(supportsUkiProfiles('v1.10.0')).toBe(true);
    expect(supportsUkiProfiles('v2.0.0')).toBe(true);
    expect(supportsUkiProfiles('latest')).toBe(true);
  });

  it('ISOs get the reset profile, disk images and installers reset-maintenance', () => {
    expect(extraUkiProfiles('iso', 'console=ttyS0')).toEqual([{ id: 'reset', title: 'Reset system disk', cmdline: 'console=ttyS0 talos.experimental.wipe=system' }]);
    const maintenance = [{ id: 'reset-maintenance', title: 'Reset to maintenance mode', cmdline: 'a=1 talos.experimental.wipe=system:EPHEMERAL,STATE' }];
    expect(extraUkiProfiles('image', 'a=1')).toEqual(maintenance);
    expect(extraUkiProfiles('installer', 'a=1')).toEqual(maintenance);
    expect(extraUkiProfiles('uki', 'a=1')).toEqual([]);
  });

  it('reads the kernel release from a bzImage header, and nothing from anything else', async () => {
    const kernel = scratch('bzimage');
    writeFileSync(kernel, fakeBzImage('6.18.45-talos'));
    expect(await bzImageKernelVersion(kernel)).toBe('6.18.45-talos');
    const zboot = scratch('zboot');
    writeFileSync(zboot, noise('arm64', 4096));
    expect(await bzImageKernelVersion(zboot)).toBeUndefined();
    writeFileSync(kernel, fakeBzImage('6.1.0', { offset: 0 }));
    expect(await bzImageKernelVersion(kernel)).toBeUndefined();
    writeFileSync(kernel, fakeBzImage('6.1.0', { offset: 0x3000, setupSectors: 4 }));
    expect(await bzImageKernelVersion(kernel)).toBeUndefined();
  });

  it('lists sections in upstream build order, profiles from 1.10', async () => {
    const kernel = scratch('bzimage');
    writeFileSync(kernel, fakeBzImage('6.18.45-talos'));
    const names = async (version: string, extra = {}) =>
      (await talosUkiSections({ version, kernel, initrd: kernel, cmdline: 'c', profiles: extraUkiProfiles('iso', 'c'), ...extra })).map((s) => s.name);
    expect(await names('v1.9.0')).toEqual(['.osrel', '.cmdline', '.uname', '.linux', '.initrd']);
    expect(await names('v1.12.0')).toEqual(['.osrel', '.cmdline', '.uname', '.linux', '.initrd', '.profile', '.profile', '.cmdline']);
    expect(await names('v1.12.0', { kernelVersion: null, splash: { data: Buffer.from('BM') } })).toEqual(['.osrel', '.cmdline', '.splash', '.linux', '.initrd', '.profile', '.profile', '.cmdline']);
    await expect(talosUkiSections({ version: 'v1.12.0', kernel, initrd: kernel, cmdline: 'c', profiles: [{ id: 'main' }] })).rejects.toThrow(/reserved/);
  });
});

function tool(name: string): boolean {
  return spawnSync(name, ['--version'], { stdio: 'ignore' }).error === undefined;
}

const REAL_SKIP = skipUnlessCi(
  !existsSync(HOST_STUB)
    ? `${HOST_STUB} is missing (apt-get install systemd-boot-efi)`
    : !tool('objdump') || !tool('objcopy')
      ? 'objdump/objcopy are missing (apt-get install binutils)'
      : !tool('sbverify')
        ? 'sbverify is missing (apt-get install sbsigntool)'
        : undefined,
);

interface ObjdumpSection {
  name: string;
  size: number;
  vma: bigint;
  fileOffset: number;
  flags: string;
}

function objdumpSections(file: string): ObjdumpSection[] {
  const out = spawnSync('objdump', ['-h', file], { encoding: 'utf8' }).stdout;
  const lines = out.split('\n');
  const sections: ObjdumpSection[] = [];
  for (const [i, line] of lines.entries()) {
    const m = /^\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+2\*\*\d+$/.exec(line);
    if (m) sections.push({ name: m[1]!, size: Number.parseInt(m[2]!, 16), vma: BigInt(`0x${m[3]}`), fileOffset: Number.parseInt(m[4]!, 16), flags: lines[i + 1]!.trim() });
  }
  return sections;
}

describe.skipIf(REAL_SKIP !== undefined)('a Talos UKI on systemd-stub, judged by binutils and sbverify', () => {
  const cmdline = 'console=ttyS0 talos.platform=metal';

  async function buildTalosUki(version: string): Promise<{ path: string; sections: UkiSection[] }> {
    const kernel = scratch('bzimage');
    writeFileSync(kernel, Buffer.concat([fakeBzImage('6.18.45-talos'), noise('kernel', 200_000)]));
    const initrd = scratch('initrd');
    writeFileSync(initrd, noise('initrd', 333_333));
    const sections = await talosUkiSections({ version, kernel, initrd, cmdline, profiles: extraUkiProfiles('iso', cmdline) });
    const path = scratch('uki.efi');
    await assembleUki({ stub: HOST_STUB, sections, timestamp: 1_700_000_000 }, path);
    return { path, sections };
  }

  it('objdump -h lists the stub sections and ours with the sizes, addresses, offsets and flags we meant', async () => {
    const { path, sections } = await buildTalosUki('v1.12.0');
    const pe = await PeFile.open(path);
    const listed = objdumpSections(path);
    expect(listed.map((s) => s.name)).toEqual(pe.sections.map((s) => s.name));
    const stubCount = (await PeFile.open(HOST_STUB)).sections.length;
    expect(listed.slice(stubCount).map((s) => s.name)).toEqual(sections.map((s) => s.name));
    for (const [i, s] of pe.sections.entries()) {
      expect(listed[i], s.name).toMatchObject({ size: s.virtualSize, vma: pe.headers.optional.imageBase + BigInt(s.virtualAddress), fileOffset: s.rawOffset });
      if (i >= stubCount) expect(listed[i]!.flags, s.name).toBe('CONTENTS, ALLOC, LOAD, READONLY, DATA');
    }
  });

  it('objcopy dumps back the exact bytes of every section we added (the first of each name)', async () => {
    const { path, sections } = await buildTalosUki('v1.12.0');
    const seen = new Set<string>();
    for (const s of sections) {
      if (seen.has(s.name)) continue;
      seen.add(s.name);
      const dump = scratch(`dump${s.name}`);
      const result = spawnSync('objcopy', ['--dump-section', `${s.name}=${dump}`, path, scratch('discard')], { encoding: 'utf8' });
      expect(result.status, result.stderr).toBe(0);
      const expected = 'data' in s.source ? Buffer.from(s.source.data) : readFileSync(s.source.path);
      expect(readFileSync(dump).equals(expected), s.name).toBe(true);
    }
    const pe = await PeFile.open(path);
    expect((await Promise.all(pe.sectionsNamed('.cmdline').map((c) => pe.readSection(c)))).map(String)).toEqual([cmdline, `${cmdline} talos.experimental.wipe=system`]);
    expect((await Promise.all(pe.sectionsNamed('.profile').map((c) => pe.readSection(c)))).map(String)).toEqual(['ID=main', 'ID=reset\nTITLE=Reset system disk']);
    expect(String(await pe.readSection('.uname'))).toBe('6.18.45-talos');
  });

  it('sbverify parses it: no signature yet, and no gaps between sections', async () => {
    const { path } = await buildTalosUki('v1.9.0');
    const result = spawnSync('sbverify', ['--list', path], { encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    expect(`${result.stdout}${result.stderr}`).toContain('No signature table present');
    expect(`${result.stdout}${result.stderr}`).not.toMatch(/warning|gaps/i);
  });
});
