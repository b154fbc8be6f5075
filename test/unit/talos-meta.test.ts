import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DiskFormatError } from '../../src/formats/disk/errors.js';
import {
  ADV_COPY_SIZE,
  ADV_DATA_SIZE,
  ADV_SIZE,
  decodeAdvCopy,
  encodeAdvCopy,
  encodeTalosAdv,
  metaPartitionExtents,
  readTalosMeta,
  readTalosMetaStrings,
} from '../../src/formats/talos-meta.js';

const PARTITION = 1 << 20;

/** The META partition as the imager leaves it: ADV copies at 0, zeros elsewhere (the legacy ADV included). */
function partitionOf(adv: Buffer): Buffer {
  const out = Buffer.alloc(PARTITION);
  adv.copy(out);
  return out;
}

/** A syslinux ADV block built from its documented layout, independently of the reader. */
function syslinuxBlock(tags: Array<[number, string]>): Buffer {
  const block = Buffer.alloc(512);
  let at = 8;
  for (const [tag, value] of tags) {
    block[at] = tag;
    block[at + 1] = value.length;
    block.write(value, at + 2, 'latin1');
    at += 2 + value.length;
  }
  block.writeUInt32LE(0x5a2d2fa5, 0);
  block.writeUInt32LE(0xdd28bf64, 508);
  let sum = 0;
  for (let i = 8; i < 508; i += 4) sum = (sum + block.readUInt32LE(i)) >>> 0;
  block.writeUInt32LE((0xa3041767 - sum) >>> 0, 4);
  return block;
}

describe('Talos ADV layout (siderolabs/go-adv "talos")', () => {
  const values = [
    { key: 0x11, value: 'dual-boot' },
    { key: 0x0a, value: '{"a":1}' },
  ];
  const copy = encodeAdvCopy(values);

  it('is two identical 256 KiB copies', () => {
    const adv = encodeTalosAdv(values);
    expect(adv.length).toBe(ADV_SIZE);
    expect(adv.subarray(0, ADV_COPY_SIZE).equals(adv.subarray(ADV_COPY_SIZE))).toBe(true);
    expect(adv.subarray(0, ADV_COPY_SIZE).equals(copy)).toBe(true);
  });

  it('has big-endian magics at both ends and tags as u32 tag, u32 size, value, in key order', () => {
    expect(copy.readUInt32BE(0)).toBe(0x5a4b3c2d);
    expect(copy.readUInt32BE(ADV_COPY_SIZE - 4)).toBe(0xa5b4c3d2);
    const expected = Buffer.concat([
      Buffer.from([0, 0, 0, 0x0a, 0, 0, 0, 7]),
      Buffer.from('{"a":1}'),
      Buffer.from([0, 0, 0, 0x11, 0, 0, 0, 9]),
      Buffer.from('dual-boot'),
    ]);
    expect(copy.subarray(4, 4 + expected.length)).toEqual(expected);
    expect(copy.subarray(4 + expected.length, ADV_COPY_SIZE - 36).every((b) => b === 0)).toBe(true);
  });

  it('carries the SHA-256 of the copy with the checksum field zeroed, 36 bytes from the end', () => {
    const zeroed = Buffer.from(copy);
    zeroed.fill(0, ADV_COPY_SIZE - 36, ADV_COPY_SIZE - 4);
    expect(copy.subarray(ADV_COPY_SIZE - 36, ADV_COPY_SIZE - 4)).toEqual(createHash('sha256').update(zeroed).digest());
  });

  it('is all magic, checksum and zeros without values', () => {
    const empty = encodeAdvCopy([]);
    expect(empty.subarray(4, ADV_COPY_SIZE - 36).every((b) => b === 0)).toBe(true);
    expect(decodeAdvCopy(empty).size).toBe(0);
  });

  it('lets a later value for a key replace an earlier one, as SetTag does', () => {
    expect(readTalosMetaStrings(encodeTalosAdv([{ key: 12, value: 'a' }, { key: 12, value: 'bb' }]))).toEqual(new Map([[12, 'bb']]));
  });

  it('holds values up to 256 KiB - 40 bytes in total, and no more', () => {
    const fits = [{ key: 1, value: Buffer.alloc(ADV_DATA_SIZE - 8, 1) }];
    expect(readTalosMeta(encodeTalosAdv(fits)).get(1)!.length).toBe(ADV_DATA_SIZE - 8);
    expect(() => encodeAdvCopy([{ key: 1, value: Buffer.alloc(ADV_DATA_SIZE - 7) }])).toThrow(DiskFormatError);
    expect(() =>
      encodeAdvCopy([
        { key: 1, value: Buffer.alloc(ADV_DATA_SIZE / 2) },
        { key: 2, value: Buffer.alloc(ADV_DATA_SIZE / 2) },
      ]),
    ).toThrow(/more than/);
  });

  it('refuses keys outside 1..255', () => {
    for (const key of [0, 256, -1, 1.5]) expect(() => encodeAdvCopy([{ key, value: 'x' }])).toThrow(DiskFormatError);
  });
});

describe('reading META', () => {
  it('round-trips any values', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.integer({ min: 1, max: 255 }).map(String), fc.uint8Array({ maxLength: 2000 }), { maxKeys: 20 }), (dict) => {
        const values = Object.entries(dict).map(([k, v]) => ({ key: Number(k), value: v }));
        const read = readTalosMeta(partitionOf(encodeTalosAdv(values)));
        expect(new Map([...read].map(([k, v]) => [k, [...v]]))).toEqual(new Map(values.map((v) => [v.key, [...v.value]])));
      }),
      { numRuns: 50 },
    );
  });

  it('round-trips UTF-8 strings', () => {
    const values = [
      { key: 10, value: 'ünïcödé ✓' },
      { key: 15, value: '' },
    ];
    expect(readTalosMetaStrings(partitionOf(encodeTalosAdv(values)))).toEqual(new Map(values.map((v) => [v.key, v.value])));
  });

  it('uses the second copy when the first is damaged (go-adv test cases)', () => {
    const adv = encodeTalosAdv([
      { key: 3, value: 'value1' },
      { key: 4, value: 'value2' },
      { key: 5, value: 'value3' },
    ]);
    for (const zeroOut of [[[0, 2]], [[30, 1000]], [[8, 4], [40, 2]], [[0, ADV_COPY_SIZE]]]) {
      const damaged = Buffer.from(adv);
      for (const [at, n] of zeroOut) damaged.fill(0, at!, at! + n!);
      expect(readTalosMetaStrings(damaged)).toEqual(
        new Map([
          [3, 'value1'],
          [4, 'value2'],
          [5, 'value3'],
        ]),
      );
    }
  });

  it('fails when neither copy is valid and there is no legacy ADV', () => {
    const adv = encodeTalosAdv([{ key: 3, value: 'v' }]);
    adv[100] = 1;
    adv[ADV_COPY_SIZE + 100] = 1;
    expect(() => readTalosMeta(partitionOf(adv))).toThrow(/no valid ADV/);
    expect(() => readTalosMeta(Buffer.alloc(PARTITION))).toThrow(DiskFormatError);
    expect(() => decodeAdvCopy(Buffer.alloc(10))).toThrow(DiskFormatError);
  });

  it('completes the talos ADV with the legacy syslinux ADV in the last 1024 bytes', () => {
    const partition = partitionOf(encodeTalosAdv([{ key: 6, value: 'talos' }]));
    syslinuxBlock([
      [6, 'legacy-loses'],
      [7, 'legacy'],
    ]).copy(partition, PARTITION - 1024);
    expect(readTalosMetaStrings(partition)).toEqual(
      new Map([
        [6, 'talos'],
        [7, 'legacy'],
      ]),
    );
    const legacyOnly = Buffer.alloc(PARTITION);
    syslinuxBlock([[8, 'x']]).copy(legacyOnly, PARTITION - 1024);
    expect(readTalosMetaStrings(legacyOnly)).toEqual(new Map([[8, 'x']]));
  });

  it('ignores a legacy block whose checksum is wrong', () => {
    const partition = partitionOf(encodeTalosAdv([]));
    const block = syslinuxBlock([[7, 'legacy']]);
    block[20] = 0xff;
    block.copy(partition, PARTITION - 1024);
    expect(readTalosMeta(partition).size).toBe(0);
  });
});

describe('META partition extents', () => {
  it('cover only the non-zero 4 KiB pieces of the two copies, at the partition offset', () => {
    const values = [{ key: 0x11, value: 'dual-boot' }];
    const offset = 4103 << 20;
    const extents = metaPartitionExtents(values, offset);
    expect(extents.map((e) => [e.offset - offset, e.length])).toEqual([
      [0, 4096],
      [ADV_COPY_SIZE - 4096, 8192],
      [ADV_SIZE - 4096, 4096],
    ]);
    const partition = Buffer.alloc(PARTITION);
    for (const e of extents) {
      if (e.source.kind !== 'bytes') throw new Error('expected bytes');
      partition.set(e.source.data, e.offset - offset);
    }
    expect(partition.subarray(0, ADV_SIZE).equals(encodeTalosAdv(values))).toBe(true);
    expect(readTalosMetaStrings(partition)).toEqual(new Map([[0x11, 'dual-boot']]));
  });
});
