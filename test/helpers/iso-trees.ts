// The shared sample trees (squashfs-trees.ts) fitted to what an ISO can hold:
// Rock Ridge names of at most 253 bytes, the longest Linux' isofs reads back.

import { NAME_MAX } from '../../src/formats/iso9660/tree-layout.js';
import type { TreeSpec } from './squashfs-trees.js';

/** `name` cut to at most NAME_MAX bytes, at a UTF-8 character boundary. */
function fitName(name: string): string {
  let out = '';
  for (const char of name) {
    if (Buffer.byteLength(out + char) > NAME_MAX) break;
    out += char;
  }
  return out;
}

/** The specs with every path component fitted (the sample trees stay free of clashes this way). */
export function fitNames(specs: readonly TreeSpec[]): TreeSpec[] {
  return specs.map((spec) => ({ ...spec, path: spec.path.split('/').map(fitName).join('/') }));
}
