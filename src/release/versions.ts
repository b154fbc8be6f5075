// Which imager tags are offered as Talos versions (upstream's rules): tags that
// parse tolerantly as semver, not below the minimum, not marked broken, and
// pre-releases only `alpha.N`, `beta.N` or `rc.N` of the newest major.minor.

import { type TalosVersion, compareVersions, parseVersionTolerant } from '../talos/version.js';

export interface VersionPolicy {
  minimum: TalosVersion;
  broken: readonly TalosVersion[];
}

export function selectVersions(tags: readonly string[], policy: VersionPolicy): TalosVersion[] {
  const parsed: TalosVersion[] = [];
  for (const tag of tags) {
    try {
      parsed.push(parseVersionTolerant(tag));
    } catch {
      // not a version tag (e.g. "latest" or a commit tag)
    }
  }
  if (parsed.length === 0) return [];
  const newest = parsed.reduce((a, b) => (compareVersions(a, b) >= 0 ? a : b));
  return parsed
    .filter((v) => compareVersions(v, policy.minimum) >= 0)
    .filter((v) => !policy.broken.some((b) => compareVersions(b, v) === 0))
    .filter((v) => v.prerelease.length === 0 || isAcceptedPrerelease(v, newest))
    .sort(compareVersions);
}

function isAcceptedPrerelease(version: TalosVersion, newest: TalosVersion): boolean {
  if (version.major !== newest.major || version.minor !== newest.minor) return false;
  const [kind, number] = version.prerelease;
  return version.prerelease.length === 2 && (kind === 'alpha' || kind === 'beta' || kind === 'rc') && typeof number === 'number';
}
