// What Talos' imager names its ISOs and which dates it stamps on them
// (talos-imager.md §3, §9). From 1.8 the volume id is derived from the label
// "Talos-<version>" and the volume set id is the label itself; before, the
// imager passed neither and xorriso's default "ISOIMAGE" stayed. With
// SOURCE_DATE_EPOCH every file date and both volume dates are that instant
// (xorriso -volume_date all_file_dates / uuid), which the factory always sets.

import { parseVersionTolerant } from '../../talos/version.js';
import { DEFAULT_VOLUME_ID } from '../../formats/iso9660/index.js';

export interface TalosIsoVolume {
  volumeId: string;
  volumeSetId: string;
  /** Volume creation/modification date and the date of every file. */
  date: Date;
}

/** The ISO label: "Talos-" + version as given (e.g. "Talos-v1.14.0"); "Talos-SB-…" for SecureBoot. */
export function talosIsoLabel(version: string, secureBoot = false): string {
  return `Talos-${secureBoot ? 'SB-' : ''}${version}`;
}

/** A label as a volume id: uppercased, '-', '.' and '_' become '_', other characters dropped, at most 32. */
export function isoVolumeId(label: string): string {
  return label
    .toUpperCase()
    .replace(/[-._]/g, '_')
    .replace(/[^A-Z0-9_]/g, '')
    .slice(0, 32);
}

/**
 * The imager sets the volume id and set id from 1.8 on. Like upstream's quirks,
 * a pre-release counts as its release and a version that does not parse counts
 * as the newest.
 */
export function setsIsoLabel(version: string): boolean {
  let parsed;
  try {
    parsed = parseVersionTolerant(version);
  } catch {
    return true;
  }
  return parsed.major > 1 || (parsed.major === 1 && parsed.minor >= 8);
}

/** Identity and dates of a Talos ISO for `version`, built with SOURCE_DATE_EPOCH = `sourceDateEpoch` (seconds). */
export function talosIsoVolume(version: string, sourceDateEpoch: number): TalosIsoVolume {
  if (!Number.isInteger(sourceDateEpoch) || sourceDateEpoch < 0) throw new RangeError(`SOURCE_DATE_EPOCH ${sourceDateEpoch} is not a non-negative integer`);
  // The secure-boot variant of the label is never used for the volume id (iso.go passes false).
  const label = talosIsoLabel(version);
  const date = new Date(sourceDateEpoch * 1000);
  return setsIsoLabel(version) ? { volumeId: isoVolumeId(label), volumeSetId: label, date } : { volumeId: DEFAULT_VOLUME_ID, volumeSetId: '', date };
}
