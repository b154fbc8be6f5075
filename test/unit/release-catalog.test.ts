import { describe, expect, it } from 'vitest';
import { parseExtensionCatalog, parseOverlayCatalog } from '../../src/release/catalog.js';
import { InvalidReleaseError } from '../../src/release/errors.js';

const gvisor = `ghcr.io/siderolabs/gvisor:20231214.0@sha256:${'a'.repeat(64)}`;
const zfs = `ghcr.io/siderolabs/zfs:2.2.2@sha256:${'b'.repeat(64)}`;

describe('extension catalog', () => {
  it('reads image-digests lines and matches descriptions by the whole line', () => {
    const descriptions = `"${gvisor}":\n  author: Sidero Labs\n  description: gVisor <container> runtime\n`;
    expect(parseExtensionCatalog(`${gvisor}\n  ${zfs}  \n\n`, descriptions)).toEqual([
      { repository: 'siderolabs/gvisor', tag: '20231214.0', digest: `sha256:${'a'.repeat(64)}`, author: 'Sidero Labs', description: 'gVisor <container> runtime' },
      { repository: 'siderolabs/zfs', tag: '2.2.2', digest: `sha256:${'b'.repeat(64)}`, author: '', description: '' },
    ]);
  });

  it('skips lines not pinned by digest and works without descriptions', () => {
    expect(parseExtensionCatalog(`ghcr.io/siderolabs/unpinned:1.0\n${zfs}\n`, undefined).map((e) => e.repository)).toEqual(['siderolabs/zfs']);
  });

  it('says which line is broken', () => {
    expect(() => parseExtensionCatalog(`ghcr.io/Bad Name:1@sha256:${'c'.repeat(64)}\n`, undefined)).toThrow(/failed to parse tagged reference ghcr.io\/Bad Name:1/);
    expect(() => parseExtensionCatalog(zfs, ': : :\n- [')).toThrow(InvalidReleaseError);
  });
});

describe('overlay catalog', () => {
  it('reads overlays.yaml', () => {
    const yaml = `overlays:\n  - name: rpi_generic\n    image: ghcr.io/siderolabs/sbc-raspberrypi:v0.1.0\n    digest: sha256:${'d'.repeat(64)}\n`;
    expect(parseOverlayCatalog(yaml)).toEqual([
      { name: 'rpi_generic', registry: 'ghcr.io', repository: 'siderolabs/sbc-raspberrypi', tag: 'v0.1.0', digest: `sha256:${'d'.repeat(64)}` },
    ]);
  });

  it('rejects a malformed catalog with a message naming the file', () => {
    expect(() => parseOverlayCatalog('overlays: {}\n')).toThrow(/overlays.yaml/);
  });
});
