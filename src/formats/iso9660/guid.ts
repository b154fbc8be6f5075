// Deterministic GUIDs: the same seed and role always give the same GUID, so
// an image has no random identifiers. The GUID is the first 16 bytes of
// SHA-256(seed NUL role) marked as an RFC 9562 version 8 ("custom") UUID.
// GPT stores the first three fields little-endian ("mixed endian").

import { createHash } from 'node:crypto';
import { Iso9660Error } from './errors.js';

export function seededGuid(seed: string, role: string): string {
  const bytes = createHash('sha256').update(seed).update('\0').update(role).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x80;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`.toUpperCase();
}

/** A GUID's 16 bytes in GPT order. */
export function guidToBytes(guid: string): Buffer {
  const m = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/i.exec(guid);
  if (!m) throw new Iso9660Error(`iso9660: ${JSON.stringify(guid)} is not a GUID`);
  const swap = (hex: string): Buffer => Buffer.from(hex, 'hex').reverse();
  return Buffer.concat([swap(m[1]!), swap(m[2]!), swap(m[3]!), Buffer.from(m[4]! + m[5]!, 'hex')]);
}

export function guidFromBytes(bytes: Buffer): string {
  const hex = (b: Buffer): string => b.toString('hex');
  const rev = (from: number, to: number): string => hex(Buffer.from(bytes.subarray(from, to)).reverse());
  return `${rev(0, 4)}-${rev(4, 6)}-${rev(6, 8)}-${hex(bytes.subarray(8, 10))}-${hex(bytes.subarray(10, 16))}`.toUpperCase();
}
