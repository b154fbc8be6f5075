// Deterministic GUIDs for the hybrid ISO's GPT: the same seed and role always
// give the same GUID, so an image has no random identifiers. The GUID is the
// first 16 bytes of SHA-256(seed NUL role) marked as an RFC 9562 version 8
// ("custom") UUID. Their bytes are written by formats/gpt.ts's guidToBytes.

import { createHash } from 'node:crypto';

export function seededGuid(seed: string, role: string): string {
  const bytes = createHash('sha256').update(seed).update('\0').update(role).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x80;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`.toUpperCase();
}
