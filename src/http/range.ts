// The one parser of HTTP `Range` headers (RFC 9110 §14), for asset downloads
// and registry blobs alike: a single `bytes=` range, suffix ranges included.

export interface ByteRange {
  /** Inclusive. */
  start: number;
  end: number;
}

/**
 * One `bytes=` range resolved against the size; 'invalid' when unsatisfiable
 * (answer 416); undefined when absent or not understood (a multi-range or
 * garbage: send it all, as RFC 9110 allows).
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'invalid' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'invalid';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'invalid';
  return { start, end };
}
