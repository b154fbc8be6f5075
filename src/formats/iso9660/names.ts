// ISO 9660 identifiers for the plain (non-Rock Ridge) view, level 3 rules:
// d-characters only (A-Z 0-9 _), files as NAME.EXT;1 with NAME + EXT at most
// 30 characters, directories at most 31 characters, unique in each directory.
// Rock Ridge NM entries carry the real names; these only have to be valid,
// unique and stable (a pure function of the sibling names).

const FILE_ID_MAX = 30;
const DIR_ID_MAX = 31;
/** Longest extension kept, so that a long extension cannot eat the whole name. */
const EXT_MAX = 8;

function dChars(text: string): string {
  return text.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
}

interface Candidate {
  name: string;
  ext: string;
  isDirectory: boolean;
}

function candidate(name: string, isDirectory: boolean): Candidate {
  if (isDirectory) return { name: dChars(name).slice(0, DIR_ID_MAX), ext: '', isDirectory };
  const dot = name.lastIndexOf('.');
  const rawBase = dot === -1 ? name : name.slice(0, dot);
  const rawExt = dot === -1 ? '' : name.slice(dot + 1);
  const ext = dChars(rawExt).slice(0, EXT_MAX);
  return { name: dChars(rawBase).slice(0, FILE_ID_MAX - ext.length), ext, isDirectory };
}

function identifier(c: Candidate): string {
  return c.isDirectory ? c.name : `${c.name}.${c.ext};1`;
}

/** The same candidate with its name ending in a counter, still within the length limits. */
function numbered(c: Candidate, n: number): Candidate {
  const digits = String(n);
  const max = c.isDirectory ? DIR_ID_MAX : FILE_ID_MAX - c.ext.length;
  return { ...c, name: c.name.slice(0, Math.max(0, max - digits.length)) + digits };
}

/**
 * ISO identifiers for the entries of one directory, keyed by entry name.
 * Entries are considered in byte order of their names, so which one keeps the
 * plain identifier and which gets a counter never depends on insertion order.
 */
export function isoIdentifiers(entries: Iterable<{ name: string; isDirectory: boolean }>): Map<string, string> {
  const sorted = [...entries].sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  const taken = new Set<string>();
  const out = new Map<string, string>();
  for (const entry of sorted) {
    const base = candidate(entry.name, entry.isDirectory);
    let id = identifier(base);
    for (let n = 1; taken.has(id); n++) id = identifier(numbered(base, n));
    taken.add(id);
    out.set(entry.name, id);
  }
  return out;
}

/** Splits "NAME.EXT;1" into its parts (directories have no extension or version). */
function parts(id: string): [string, string, string] {
  const semi = id.indexOf(';');
  const body = semi === -1 ? id : id.slice(0, semi);
  const version = semi === -1 ? '' : id.slice(semi + 1);
  const dot = body.indexOf('.');
  return dot === -1 ? [body, '', version] : [body.slice(0, dot), body.slice(dot + 1), version];
}

function comparePadded(a: string, b: string): number {
  const length = Math.max(a.length, b.length);
  const pa = a.padEnd(length, ' ');
  const pb = b.padEnd(length, ' ');
  return pa < pb ? -1 : pa > pb ? 1 : 0;
}

/** ECMA-119 9.3 record order: name, then extension (each padded with spaces), then version descending. */
export function compareIdentifiers(a: string, b: string): number {
  const [an, ae, av] = parts(a);
  const [bn, be, bv] = parts(b);
  return comparePadded(an, bn) || comparePadded(ae, be) || Number(bv || 0) - Number(av || 0);
}
