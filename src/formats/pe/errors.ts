/** A PE file that cannot be read or assembled (not PE32+, symbols, signed stub, bad section name, …). */
export class PeFormatError extends Error {
  override name = 'PeFormatError';
}
