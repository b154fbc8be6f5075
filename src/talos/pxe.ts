// The iPXE script served at /pxe/:schematic/:version/:path, byte for byte as
// the Image Factory writes it: kernel + initramfs, or for SecureBoot the
// signed UKI alone; both carry the built command line on the kernel line.

import { posix } from 'node:path';
import type { Arch } from './platforms.js';

export interface PxeScriptInput {
  /** The external PXE base URL (may carry a path prefix and, with auth, credentials). */
  pxeBaseUrl: string | URL;
  schematicId: string;
  /** The version path segment with a leading `v` (upstream uses the request's text, not a normalised version). */
  versionTag: string;
  platform: string;
  arch: Arch;
  secureBoot: boolean;
  /** The cmdline asset's content (no trailing newline). */
  cmdline: string;
}

/** Go's url.JoinPath on the base URL: path elements joined and cleaned, query and credentials kept. */
export function joinUrl(base: string | URL, ...elements: string[]): string {
  const url = new URL(base.toString());
  url.pathname = posix.join(url.pathname || '/', ...elements);
  return url.toString();
}

export function pxeScript(input: PxeScriptInput): string {
  const asset = (file: string) => joinUrl(input.pxeBaseUrl, 'image', input.schematicId, input.versionTag, file);
  if (input.secureBoot) {
    const uki = asset(`${input.platform}-${input.arch}-secureboot-uki.efi`);
    return `#!ipxe\n\nimgfree\nkernel ${uki} ${input.cmdline}\nboot\n`;
  }
  const kernel = asset(`kernel-${input.arch}`);
  const initramfs = asset(`initramfs-${input.arch}.xz`);
  return `#!ipxe\n\nimgfree\nkernel ${kernel} ${input.cmdline}\ninitrd ${initramfs}\nboot\n`;
}
