// One error type for the disk image formats (sparse model, GPT, META, qcow2,
// vhd, vmdk, ova), so callers can tell a bad layout from an I/O failure.

export class DiskFormatError extends Error {
  override name = 'DiskFormatError';
}
