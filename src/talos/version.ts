// Talos versions with the semantics upstream gets from blang/semver: a strict
// parser (for URL path versions), a tolerant one (for registry tags), ordering,
// and the string form without the leading "v".

import { SemVer, compare } from 'semver';

// SemVer 2.0.0: no leading zeros in numeric parts or numeric pre-release identifiers.
const STRICT_SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

export class InvalidVersionError extends Error {
  override name = 'InvalidVersionError';
}

export type TalosVersion = SemVer;

/** Strict semver, no "v" (blang's Parse). */
export function parseVersion(text: string): TalosVersion {
  if (!STRICT_SEMVER.test(text)) throw new InvalidVersionError(`invalid semantic version ${JSON.stringify(text)}`);
  try {
    return new SemVer(text);
  } catch (error) {
    // Well-formed but beyond what semver holds (a part above 2^53, or longer than 256 characters).
    if (error instanceof TypeError) throw new InvalidVersionError(`invalid semantic version ${JSON.stringify(text)}: ${error.message}`);
    throw error;
  }
}

/**
 * blang's ParseTolerant: surrounding spaces and a leading "v" are dropped,
 * leading zeros of the numeric parts are removed, and a missing minor or patch
 * becomes 0 (but a short version may not carry a pre-release or build).
 */
export function parseVersionTolerant(text: string): TalosVersion {
  const trimmed = text.trim().replace(/^v/, '');
  const parts = trimmed.split('.');
  const head = parts.length > 3 ? [parts[0], parts[1], parts.slice(2).join('.')] : parts;
  const normalised = head.map((part = '') => {
    if (part.length <= 1) return part;
    const stripped = part.replace(/^0+/, '');
    return stripped === '' || !/^\d/.test(stripped) ? `0${stripped}` : stripped;
  });
  if (normalised.length < 3) {
    if (/[+-]/.test(normalised[normalised.length - 1] ?? '')) {
      throw new InvalidVersionError(`invalid semantic version ${JSON.stringify(text)}: a short version cannot carry a pre-release or build`);
    }
    while (normalised.length < 3) normalised.push('0');
  }
  return parseVersion(normalised.join('.'));
}

/** The version as upstream prints it after "v": major.minor.patch[-pre][+build]. */
export function versionString(version: TalosVersion): string {
  return version.build.length > 0 ? `${version.version}+${version.build.join('.')}` : version.version;
}

/** The image tag of a version: "v" + versionString. */
export function versionTag(version: TalosVersion): string {
  return `v${versionString(version)}`;
}

export function compareVersions(a: TalosVersion, b: TalosVersion): number {
  return compare(a, b);
}

/** A path segment as upstream's handlers read it: "v" prepended when missing, the rest parsed strictly. */
export function parsePathVersion(segment: string): TalosVersion {
  return parseVersion(segment.startsWith('v') ? segment.slice(1) : segment);
}
