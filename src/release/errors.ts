// Errors of the release layer that callers turn into user-facing answers.

/** The version is valid but not offered (upstream: 404 "version X is not available"). */
export class VersionNotAvailableError extends Error {
  override name = 'VersionNotAvailableError';
}

/** A release image is there but does not hold what a Talos release must hold. */
export class InvalidReleaseError extends Error {
  override name = 'InvalidReleaseError';
}

/** A schematic names an extension the version's catalog does not have (upstream: 400). */
export class UnknownExtensionError extends Error {
  override name = 'UnknownExtensionError';
}
