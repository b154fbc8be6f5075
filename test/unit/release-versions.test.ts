import { describe, expect, it } from 'vitest';
import { selectVersions } from '../../src/release/versions.js';
import { Quirks } from '../../src/talos/quirks.js';
import {
  InvalidVersionError,
  parsePathVersion,
  parseVersion,
  parseVersionTolerant,
  versionString,
  versionTag,
} from '../../src/talos/version.js';

const policy = (minimum = '1.2.0', broken: string[] = []) => ({
  minimum: parseVersion(minimum),
  broken: broken.map((b) => parseVersion(b)),
});
const tags = (list: string[], p = policy()) => selectVersions(list, p).map(versionTag);

describe('Talos version parsing', () => {
  it('parses strictly the way path versions are read', () => {
    expect(versionString(parsePathVersion('v1.12.0'))).toBe('1.12.0');
    expect(versionString(parsePathVersion('1.12.0-beta.1'))).toBe('1.12.0-beta.1');
    for (const bad of ['1.12', 'v01.2.3', '1.2.3-01', 'vv1.2.3', '1.2.3 ', 'latest', '']) {
      expect(() => parsePathVersion(bad), bad).toThrow(InvalidVersionError);
    }
  });

  it('parses registry tags tolerantly (blang ParseTolerant)', () => {
    expect(versionTag(parseVersionTolerant(' v1.7 '))).toBe('v1.7.0');
    expect(versionTag(parseVersionTolerant('v1.07.06'))).toBe('v1.7.6');
    expect(versionTag(parseVersionTolerant('1'))).toBe('v1.0.0');
    expect(() => parseVersionTolerant('v1.7-alpha')).toThrow(/short version/);
    expect(() => parseVersionTolerant('sha-abc123')).toThrow(InvalidVersionError);
  });

  it('keeps build metadata in the printed form', () => {
    expect(versionTag(parseVersion('1.2.3+build.5'))).toBe('v1.2.3+build.5');
  });
});

describe('versions on offer', () => {
  it('drops non-versions, versions below the minimum and broken ones, and sorts ascending', () => {
    expect(tags(['v1.9.0', 'latest', 'v1.1.2', 'v1.12.0', 'v1.10.3', 'main-abc', 'v1.2.0'], policy('1.2.0', ['1.10.3']))).toEqual([
      'v1.2.0',
      'v1.9.0',
      'v1.12.0',
    ]);
  });

  it('keeps alpha.N/beta.N/rc.N pre-releases of the newest major.minor only', () => {
    const list = [
      'v1.11.0',
      'v1.11.1-alpha.0',
      'v1.12.0-alpha.1',
      'v1.12.0-beta.0',
      'v1.12.0-rc.2',
      'v1.12.0-rc.2.1',
      'v1.12.0-rc',
      'v1.12.0-dev.1',
      'v1.12.0-alpha.x',
    ];
    expect(tags(list)).toEqual(['v1.11.0', 'v1.12.0-alpha.1', 'v1.12.0-beta.0', 'v1.12.0-rc.2']);
  });

  it('judges pre-releases against the newest tag even when that tag is itself filtered out', () => {
    expect(tags(['v1.12.0', 'v1.12.1-beta.0', 'v1.13.0-rc.0'], policy('1.2.0', ['1.13.0-rc.0']))).toEqual(['v1.12.0']);
  });

  it('answers an empty list when there are no tags', () => {
    expect(tags([])).toEqual([]);
  });
});

describe('quirks', () => {
  it('treats a pre-release like its release', () => {
    expect(new Quirks(parseVersion('1.10.0-alpha.0')).usesUsrLibPaths()).toBe(true);
    expect(new Quirks(parseVersion('1.9.6')).usesUsrLibPaths()).toBe(false);
    expect(new Quirks(parseVersion('1.7.0-beta.1')).supportsOverlay()).toBe(true);
    expect(new Quirks(parseVersion('1.6.7')).supportsOverlay()).toBe(false);
    expect(new Quirks(parseVersion('1.8.0')).initramfsCodec()).toBe('zstd');
    expect(new Quirks(parseVersion('1.7.6')).initramfsCodec()).toBe('xz');
    expect(new Quirks(parseVersion('1.10.0')).usesInstallerBase()).toBe(true);
  });
});
