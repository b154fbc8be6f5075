import { closeSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sparseDisk, writeSparseFile } from '../../src/formats/disk/sparse.js';
import {
  GPT_ATTR,
  GPT_TYPE,
  type GptSpec,
  encodeGpt,
  gptExtents,
  guidFromBytes,
  guidFromLabel,
  guidToBytes,
  planGpt,
  readGptFile,
} from '../../src/formats/gpt.js';
import { DiskFormatError } from '../../src/formats/disk/errors.js';
import { MiB, tempDir } from '../helpers/disk-fixtures.js';
import { diskToolsSkipReason, fdiskList, sfdiskDump, sgdiskInfo, sgdiskPrint, sgdiskVerify, withLoopDevice } from '../helpers/disk-oracle.js';

const GiB = 1024 * MiB;
const skip = diskToolsSkipReason(['sgdisk', 'sfdisk', 'fdisk']);

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => {
  tmp = tempDir('gpt-test-');
});
afterAll(() => tmp.remove());

/** Writes just the table into a sparse file of the disk's size. */
async function imageOf(spec: GptSpec, name: string, options: Parameters<typeof gptExtents>[1] = {}): Promise<string> {
  const layout = planGpt(spec);
  const path = join(tmp.path, name);
  await writeSparseFile(sparseDisk(spec.size, gptExtents(layout, options)), path);
  return path;
}

// Talos 1.14 metal amd64 (dual-boot): EFI 2101 MiB, BIOS 1 MiB, BOOT 2000 MiB, META 1 MiB on a 4247 MiB disk.
function talosMetal(sectorSize: number): GptSpec {
  return {
    size: 4247 * MiB,
    sectorSize,
    diskGuid: guidFromLabel('talos-image-disk'),
    partitions: [
      { name: 'EFI', type: GPT_TYPE.efiSystem, size: 2101 * MiB },
      { name: 'BIOS', type: GPT_TYPE.biosBoot, size: MiB, attributes: GPT_ATTR.legacyBiosBootable },
      { name: 'BOOT', type: GPT_TYPE.linuxFilesystem, size: 2000 * MiB },
      { name: 'META', type: GPT_TYPE.linuxFilesystem, size: MiB },
    ],
  };
}

describe('GUIDs', () => {
  it('derives partition GUIDs from labels exactly as Talos makefs.GUIDFromLabel (its test vectors)', () => {
    expect(guidFromLabel('EFI')).toBe('BCA5174B-0118-8A6A-AF0B-2C6E1585ACAE');
    expect(guidFromLabel('BOOT')).toBe('24C73076-4092-85DD-9D98-686A2DBF6D81');
    expect(guidFromLabel('META')).toBe('CF04F137-101E-8EC6-9627-FA3F51CDABB8');
    expect(guidFromLabel('IMAGECACHE')).toBe('3B5449BC-C21F-8009-8B51-18945967F8DF');
  });

  it('marks them as version 8, RFC 4122 variant', () => {
    const guid = guidFromLabel('talos-image-disk');
    expect(guid[14]).toBe('8');
    expect(['8', '9', 'A', 'B']).toContain(guid[19]);
  });

  it('stores GUIDs mixed-endian', () => {
    expect(guidToBytes(GPT_TYPE.efiSystem).toString('hex')).toBe('28732ac11ff8d211ba4b00a0c93ec93b');
    expect(guidFromBytes(guidToBytes('01234567-89ab-cdef-0123-456789abcdef'))).toBe('01234567-89AB-CDEF-0123-456789ABCDEF');
    expect(() => guidToBytes('nope')).toThrow(DiskFormatError);
  });
});

describe('layout', () => {
  it('places the Talos metal partitions 1 MiB-aligned, ending at 4104 MiB', () => {
    for (const ss of [512, 4096]) {
      const layout = planGpt(talosMetal(ss));
      expect(layout.partitions.map((p) => [p.offset / MiB, p.size / MiB])).toEqual([
        [1, 2101],
        [2102, 1],
        [2103, 2000],
        [4103, 1],
      ]);
      expect(layout.firstUsableLba).toBe(MiB / ss);
      expect(layout.alignment).toBe(MiB / ss);
    }
  });

  it('allocates like go-blockdevice (its "simple allocate" test data)', () => {
    const layout = planGpt({
      size: 6 * GiB,
      diskGuid: 'B6D003E5-7D1D-45E3-9F4B-4A2430B46D4A',
      partitions: [
        { name: '1G', type: GPT_TYPE.efiSystem, size: GiB },
        { name: '100M', type: GPT_TYPE.efiSystem, size: 100 * MiB, attributes: GPT_ATTR.legacyBiosBootable },
        { name: '2.5G', type: 'E6D6D379-F507-44C2-A23C-238F2A3DF928', size: 2.5 * GiB },
        { name: '1G', type: 'E6D6D379-F507-44C2-A23C-238F2A3DF928', size: GiB },
      ],
    });
    expect(layout.partitions.map((p) => [p.firstLba, p.lastLba])).toEqual([
      [2048, 2099199],
      [2099200, 2303999],
      [2304000, 7546879],
      [7546880, 9644031],
    ]);
    expect(layout.lastUsableLba).toBe(12582878);
  });

  it("gives 'rest' the largest allocatable range: the disk less 1 MiB at each end (512) or the tail's alignment slack", () => {
    const layout = planGpt({ size: 2 * GiB, diskGuid: guidFromLabel('x'), partitions: [{ name: 'ALL', type: GPT_TYPE.linuxFilesystem, size: 'rest' }] });
    expect(layout.partitions[0]!.size).toBe(2 * GiB - 2 * MiB);
    const k4 = planGpt({ size: 2 * GiB, sectorSize: 4096, diskGuid: guidFromLabel('x'), partitions: [{ name: 'ALL', type: GPT_TYPE.linuxFilesystem, size: 'rest' }] });
    expect(k4.partitions[0]!.size).toBe(2 * GiB - 2 * MiB);
  });

  it('keeps the first usable LBA right after the entries in compat mode, still aligning partitions', () => {
    const layout = planGpt({ size: 2 * GiB, compatFirstUsableLba: true, diskGuid: guidFromLabel('x'), partitions: [{ name: '1G', type: GPT_TYPE.efiSystem, size: GiB }] });
    expect(layout.firstUsableLba).toBe(34);
    expect(layout.partitions[0]!.firstLba).toBe(2048);
    expect(planGpt({ size: 64 * MiB, sectorSize: 4096, compatFirstUsableLba: true, diskGuid: guidFromLabel('x'), partitions: [] }).firstUsableLba).toBe(6);
  });

  it('floors a size that is not a whole number of sectors, as go-blockdevice', () => {
    expect(planGpt({ ...talosMetal(4096), size: 4247 * MiB + 100 }).lastLba).toBe((4247 * MiB) / 4096 - 1);
  });

  it('skips LBAs between the header and the entries when asked', () => {
    const layout = planGpt({ size: 64 * MiB, skipLbas: 100, diskGuid: guidFromLabel('x'), partitions: [] });
    expect(layout.primaryEntriesLba).toBe(102);
    expect(layout.firstUsableLba).toBe(2048);
  });

  it('rejects what go-blockdevice rejects', () => {
    const base = { diskGuid: guidFromLabel('x'), type: GPT_TYPE.linuxFilesystem };
    expect(() => planGpt({ size: 16 * 1024, diskGuid: base.diskGuid, partitions: [] })).toThrow(/too small/);
    expect(() => planGpt({ size: 64 * MiB, diskGuid: base.diskGuid, partitions: [{ name: 'A', type: base.type, size: 1000 }] })).toThrow(/multiple/);
    expect(() => planGpt({ size: 64 * MiB, diskGuid: base.diskGuid, partitions: [{ name: 'A', type: base.type, size: 63 * MiB }] })).toThrow(/does not fit/);
    expect(() => planGpt({ size: 64 * MiB, diskGuid: base.diskGuid, partitions: [{ name: 'N'.repeat(37), type: base.type, size: MiB }] })).toThrow(/36/);
    expect(() => planGpt({ size: 64 * MiB, sectorSize: 1000, diskGuid: base.diskGuid, partitions: [] })).toThrow(/sector size/);
  });
});

describe('encoding', () => {
  it('writes the protective MBR as go-blockdevice does', () => {
    const layout = planGpt(talosMetal(512));
    const mbr = encodeGpt(layout).protectiveMbr;
    expect([...mbr.subarray(446, 462)]).toEqual([0x00, 0x00, 0x02, 0x00, 0xee, 0xff, 0xff, 0xff, 1, 0, 0, 0, ...Buffer.from(new Uint32Array([layout.lastLba]).buffer)]);
    expect(mbr.readUInt16LE(510)).toBe(0xaa55);
    expect(mbr.subarray(0, 446).every((b) => b === 0)).toBe(true);
    const bootable = encodeGpt(layout, { bootablePmbr: true, mbrBootCode: Buffer.alloc(446, 0x90) }).protectiveMbr;
    expect(bootable[446]).toBe(0x80);
    expect(bootable.subarray(0, 446).every((b) => b === 0x90)).toBe(true);
  });

  it('caps the protective partition length at 0xFFFFFFFF sectors', () => {
    const layout = planGpt({ size: 3 * 1024 * GiB, diskGuid: guidFromLabel('x'), partitions: [] });
    expect(encodeGpt(layout).protectiveMbr.readUInt32LE(446 + 12)).toBe(0xffffffff);
  });

  it('writes the end CHS from a geometry when given one, as xorriso does for hybrid ISOs', () => {
    const chsEnd = (sectors: number): number[] => {
      const layout = planGpt({ size: sectors * 512, diskGuid: guidFromLabel('x'), partitions: [], compatFirstUsableLba: true });
      return [...encodeGpt(layout, { mbrGeometry: { heads: 64, sectorsPerTrack: 32 } }).protectiveMbr.subarray(446 + 1, 446 + 8)];
    };
    // Last LBA 99999 = 48 x 2048 + 52 x 32 + 31: cylinder 48, head 52, sector 32; the start stays 00 02 00.
    expect(chsEnd(100_000)).toEqual([0x00, 0x02, 0x00, 0xee, 52, 32, 48]);
    // Cylinder 1023 still fits (its two high bits go into the sector byte); 1024 and beyond give FE FF FF.
    expect(chsEnd(1024 * 2048)).toEqual([0x00, 0x02, 0x00, 0xee, 63, 32 | (3 << 6), 0xff]);
    expect(chsEnd(1024 * 2048 + 1)).toEqual([0x00, 0x02, 0x00, 0xee, 0xfe, 0xff, 0xff]);
  });

  it('writes as many entries as asked, with the first usable LBA right after them', () => {
    const layout = planGpt({ size: 8 * MiB, diskGuid: guidFromLabel('x'), entryCount: 248, alignment: 512, compatFirstUsableLba: true, partitions: [{ name: 'A', type: GPT_TYPE.basicData, size: 100 * 512 }, { name: 'B', type: GPT_TYPE.efiSystem, size: 3 * 512 }] });
    expect(layout).toMatchObject({ entryCount: 248, firstUsableLba: 64, backupEntriesLba: layout.lastLba - 62, lastUsableLba: layout.lastLba - 63 });
    expect(layout.partitions.map((p) => [p.firstLba, p.lastLba])).toEqual([[64, 163], [164, 166]]);
    const gpt = encodeGpt(layout);
    expect(gpt.entries.length).toBe(248 * 128);
    expect(gpt.primaryHeader.readUInt32LE(80)).toBe(248);
    expect(() => planGpt({ size: 8 * MiB, diskGuid: guidFromLabel('x'), entryCount: 1, partitions: [{ name: 'A', type: GPT_TYPE.basicData, size: 512 }, { name: 'B', type: GPT_TYPE.basicData, size: 512 }] })).toThrow(/more than 1 partitions/);
  });

  it('writes names as UTF-16LE', () => {
    const layout = planGpt({ size: 64 * MiB, diskGuid: guidFromLabel('x'), partitions: [{ name: 'Ünïcode 🚀', type: GPT_TYPE.linuxFilesystem, size: MiB }] });
    const { entries } = encodeGpt(layout);
    expect(entries.subarray(56, 56 + 20).toString('utf16le')).toBe('Ünïcode 🚀');
    expect(entries.subarray(76, 128).every((b) => b === 0)).toBe(true);
  });
});

describe.skipIf(skip)('oracles, 512-byte sectors', () => {
  let path: string;
  beforeAll(async () => {
    path = await imageOf(talosMetal(512), 'metal-512.raw');
  });

  it('passes sgdisk -v', () => {
    const v = sgdiskVerify(path);
    expect(v.clean, v.output).toBe(true);
  });

  it('is what sgdisk -p prints', () => {
    const p = sgdiskPrint(path);
    expect(p).toMatchObject({ sectors: 4247 * 2048, sectorSize: 512, diskGuid: guidFromLabel('talos-image-disk'), firstUsable: 2048, lastUsable: 4247 * 2048 - 34, alignment: 2048 });
    expect(p.partitions).toEqual([
      { number: 1, start: 2048, end: 2102 * 2048 - 1, code: 'EF00', name: 'EFI' },
      { number: 2, start: 2102 * 2048, end: 2103 * 2048 - 1, code: 'EF02', name: 'BIOS' },
      { number: 3, start: 2103 * 2048, end: 4103 * 2048 - 1, code: '8300', name: 'BOOT' },
      { number: 4, start: 4103 * 2048, end: 4104 * 2048 - 1, code: '8300', name: 'META' },
    ]);
  });

  it('has the type GUIDs, label-derived unique GUIDs and attributes sgdisk -i reports', () => {
    const layout = planGpt(talosMetal(512));
    const infos = layout.partitions.map((p) => sgdiskInfo(path, p.number));
    expect(infos.map((i) => [i.name, i.typeGuid, i.uniqueGuid, i.attributes, i.first, i.last])).toEqual(
      layout.partitions.map((p) => [p.name, p.type, guidFromLabel(p.name), p.attributes, p.firstLba, p.lastLba]),
    );
    expect(infos[1]!.attributes).toBe(4n);
    expect(new Set(infos.map((i) => i.uniqueGuid)).size).toBe(4);
  });

  it('is what sfdisk -d dumps', () => {
    const d = sfdiskDump(path);
    expect(d.header).toMatchObject({ label: 'gpt', 'label-id': guidFromLabel('talos-image-disk'), 'first-lba': '2048', 'last-lba': String(4247 * 2048 - 34), 'sector-size': '512' });
    expect(d.partitions.map((p) => [p.start, p.size, p.type, p.uuid, p.name, p.attrs])).toEqual([
      [2048, 2101 * 2048, GPT_TYPE.efiSystem, guidFromLabel('EFI'), 'EFI', ''],
      [2102 * 2048, 2048, GPT_TYPE.biosBoot, guidFromLabel('BIOS'), 'BIOS', 'LegacyBIOSBootable'],
      [2103 * 2048, 2000 * 2048, GPT_TYPE.linuxFilesystem, guidFromLabel('BOOT'), 'BOOT', ''],
      [4103 * 2048, 2048, GPT_TYPE.linuxFilesystem, guidFromLabel('META'), 'META', ''],
    ]);
  });

  it('reads back what it wrote', async () => {
    const table = await readGptFile(path);
    const layout = planGpt(talosMetal(512));
    expect(table.primaryValid && table.backupValid).toBe(true);
    expect(table.sectorSize).toBe(512);
    expect(table.partitions).toEqual(layout.partitions);
    expect(table.protectiveMbr).toEqual({ status: 0, type: 0xee, firstLba: 1, sectors: layout.lastLba });
    expect(table).toMatchObject({ diskGuid: layout.diskGuid, firstUsableLba: 2048, lastUsableLba: layout.lastUsableLba, backupEntriesLba: layout.backupEntriesLba });
  });

  it('falls back to the backup table when the primary is damaged, as sgdisk -v notices', async () => {
    const damaged = await imageOf(talosMetal(512), 'damaged.raw');
    const fd = openSync(damaged, 'r+');
    writeSync(fd, Buffer.from('X'), 0, 1, 1024 + 56);
    closeSync(fd);
    expect(sgdiskVerify(damaged).clean).toBe(false);
    const table = await readGptFile(damaged);
    expect(table.primaryValid).toBe(false);
    expect(table.backupValid).toBe(true);
    expect(table.partitions.map((p) => p.name)).toEqual(['EFI', 'BIOS', 'BOOT', 'META']);
  });

  it('keeps a disk larger than 2 TiB valid (capped protective MBR)', async () => {
    const big = await imageOf({ size: 3 * 1024 * GiB, diskGuid: guidFromLabel('big'), partitions: [{ name: 'DATA', type: GPT_TYPE.linuxFilesystem, size: 'rest' }] }, 'big.raw');
    const v = sgdiskVerify(big);
    expect(v.clean, v.output).toBe(true);
    expect(statSync(big).blocks * 512).toBeLessThan(MiB);
  });

  it('stays valid with the compat first usable LBA and skipped LBAs', async () => {
    const compat = await imageOf({ size: 64 * MiB, compatFirstUsableLba: true, skipLbas: 10, diskGuid: guidFromLabel('c'), partitions: [{ name: 'A', type: GPT_TYPE.efiSystem, size: 8 * MiB }] }, 'compat.raw');
    expect(sgdiskVerify(compat).clean).toBe(true);
    expect(sfdiskDump(compat).header['first-lba']).toBe('44');
  });
});

describe.skipIf(skip)('oracles, 4096-byte sectors', () => {
  let path: string;
  beforeAll(async () => {
    path = await imageOf(talosMetal(4096), 'metal-4k.raw');
  });

  it('is what fdisk -b 4096 lists, without complaints', () => {
    const l = fdiskList(path, 4096);
    const sectors = (4247 * MiB) / 4096;
    expect(l).toMatchObject({ sectorSize: 4096, diskGuid: guidFromLabel('talos-image-disk'), firstUsable: 256, lastUsable: sectors - 6, alternateLba: sectors - 1, entriesLba: 2 });
    expect(l.warnings).toBe('');
    expect(l.partitions.map((p) => [p.start, p.end, p.type, p.uuid, p.name, p.attrs])).toEqual([
      [256, 2102 * 256 - 1, GPT_TYPE.efiSystem, guidFromLabel('EFI'), 'EFI', ''],
      [2102 * 256, 2103 * 256 - 1, GPT_TYPE.biosBoot, guidFromLabel('BIOS'), 'BIOS', 'LegacyBIOSBootable'],
      [2103 * 256, 4103 * 256 - 1, GPT_TYPE.linuxFilesystem, guidFromLabel('BOOT'), 'BOOT', ''],
      [4103 * 256, 4104 * 256 - 1, GPT_TYPE.linuxFilesystem, guidFromLabel('META'), 'META', ''],
    ]);
  });

  it('puts the backup entries and header in the last 5 sectors', () => {
    const bytes = Buffer.alloc(5 * 4096);
    const fd = openSync(path, 'r');
    readSync(fd, bytes, 0, bytes.length, 4247 * MiB - bytes.length);
    closeSync(fd);
    expect(bytes.subarray(4 * 4096, 4 * 4096 + 8).toString('latin1')).toBe('EFI PART');
    expect(bytes.subarray(0, 4 * 4096).equals(encodeGpt(planGpt(talosMetal(4096))).entries)).toBe(true);
  });

  it('reads back, detecting the sector size', async () => {
    const table = await readGptFile(path);
    expect(table.sectorSize).toBe(4096);
    expect(table.primaryValid && table.backupValid).toBe(true);
    expect(table.partitions).toEqual(planGpt(talosMetal(4096)).partitions);
  });

  it('passes sgdisk -v on a 4K loop device (root only)', (ctx) => {
    const result = withLoopDevice(path, 4096, (device) => ({ verify: sgdiskVerify(device), print: sgdiskPrint(device) }));
    if (!result) return ctx.skip();
    expect(result.verify.clean, result.verify.output).toBe(true);
    expect(result.print.sectorSize).toBe(4096);
    expect(result.print.partitions.map((p) => [p.start, p.name])).toEqual([
      [256, 'EFI'],
      [2102 * 256, 'BIOS'],
      [2103 * 256, 'BOOT'],
      [4103 * 256, 'META'],
    ]);
  });
});
