// Volume descriptors (ECMA-119 8): the primary volume descriptor, El
// Torito's boot record and the set terminator, each one 2048-byte block.

import { BLOCK, DescriptorType, EL_TORITO_ID, STANDARD_ID } from './constants.js';
import { descriptorDate, fixedString, writeBoth16, writeBoth32 } from './encoding.js';

export interface VolumeIdentity {
  systemId: string;
  volumeId: string;
  volumeSetId: string;
  publisherId: string;
  preparerId: string;
  applicationId: string;
  /** Volume creation and modification dates (GRUB derives the ISO's "UUID" from them). */
  created: Date;
  modified: Date;
}

export interface PrimaryFields {
  identity: VolumeIdentity;
  /** Blocks in the volume, as this descriptor's readers should see it. */
  volumeBlocks: number;
  pathTableSize: number;
  lPathTable: number;
  mPathTable: number;
  rootRecord: Buffer;
}

function header(type: DescriptorType): Buffer {
  const out = Buffer.alloc(BLOCK);
  out[0] = type;
  out.write(STANDARD_ID, 1, 'latin1');
  out[6] = 1;
  return out;
}

export function primaryDescriptor(f: PrimaryFields): Buffer {
  const out = header(DescriptorType.Primary);
  const id = f.identity;
  fixedString(id.systemId, 32, 'system id').copy(out, 8);
  fixedString(id.volumeId, 32, 'volume id').copy(out, 40);
  writeBoth32(out, 80, f.volumeBlocks);
  writeBoth16(out, 120, 1); // volume set size
  writeBoth16(out, 124, 1); // volume sequence number
  writeBoth16(out, 128, BLOCK);
  writeBoth32(out, 132, f.pathTableSize);
  out.writeUInt32LE(f.lPathTable, 140);
  out.writeUInt32BE(f.mPathTable, 148);
  f.rootRecord.copy(out, 156);
  fixedString(id.volumeSetId, 128, 'volume set id').copy(out, 190);
  fixedString(id.publisherId, 128, 'publisher id').copy(out, 318);
  fixedString(id.preparerId, 128, 'preparer id').copy(out, 446);
  fixedString(id.applicationId, 128, 'application id').copy(out, 574);
  // Copyright, abstract and bibliographic file ids: none.
  fixedString('', 37 * 3, 'file ids').copy(out, 702);
  descriptorDate(id.created).copy(out, 813);
  descriptorDate(id.modified).copy(out, 830);
  descriptorDate(undefined).copy(out, 847); // expiration
  descriptorDate(undefined).copy(out, 864); // effective
  out[881] = 1; // file structure version
  return out;
}

/** El Torito's boot record: names the boot catalog's block. */
export function bootRecordDescriptor(catalogBlock: number): Buffer {
  const out = header(DescriptorType.BootRecord);
  out.write(EL_TORITO_ID, 7, 'latin1');
  out.writeUInt32LE(catalogBlock, 71);
  return out;
}

export function terminatorDescriptor(): Buffer {
  return header(DescriptorType.Terminator);
}
