// An image's layers merged into one filesystem tree, the way a container
// runtime's overlay would show it: as a tar stream, or written into a directory.
//
// Layers are read top-down, each once, streaming: the first (topmost) entry for
// a path wins and later ones are skipped, so no content is ever buffered; the
// only state is one mark per path seen (memory grows with the number of paths,
// never with their size). Whiteouts (`.wh.<name>`) hide `<name>` and everything
// below it in lower layers; an opaque marker (`.wh..wh..opq`) hides what lower
// layers have inside its directory. Within one layer, a later entry for the
// same path replaces the earlier one, as when extracting a tar.
//
// A hard link must bring its content with it: when its target was hidden by an
// upper layer, the layer is read a second time for just those targets.

import { constants } from 'node:fs';
import { type FileHandle, chmod, link, lstat, mkdir, open, realpath, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Extract, type Header, extract, pack as packTar } from 'tar-stream';
import { decompressStream, peekCodec } from '../formats/compression.js';
import { OciError } from './errors.js';
import type { Descriptor, ImageManifest } from './manifest.js';
import type { ImageRepository } from './repository.js';

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';

type TarHeader = Partial<Header> & { name: string };

/** An entry's content, straight from the tar parser (a streamx stream, which tar-stream's pack reads natively). */
type EntryContent = Extract extends AsyncIterable<infer Entry> ? Entry : never;

/** One entry of the merged tree; `content` is a regular file's. */
interface MergedEntry {
  /** Normalised: relative, no `.` or `..` components, no trailing slash. */
  path: string;
  header: TarHeader;
  content: EntryContent | undefined;
}

const KNOWN_TYPES: ReadonlySet<string> = new Set(['file', 'contiguous-file', 'directory', 'symlink', 'link', 'character-device', 'block-device', 'fifo']);

/**
 * The merged tree as a tar stream: one header per path, names normalised
 * (relative, no `./`, directories ending in `/`), device nodes and fifos kept.
 * Entries of upper layers come first, so a directory's header may follow some
 * of its contents.
 */
export function flattenToTar(repo: ImageRepository, manifest: ImageManifest): Readable {
  const pack = packTar();
  const entries = mergeLayers(repo, manifest);
  const produce = async (): Promise<void> => {
    for await (const entry of entries) {
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry(entry.header, (error) => (error ? reject(error) : resolve()));
        entry.content?.pipe(sink, (error: Error | null) => error && reject(error));
      });
    }
    pack.finalize();
  };
  produce().catch((error: unknown) => pack.destroy(error as Error));
  // A Node stream for callers; destroying it (a consumer that stops early) destroys the pack,
  // which fails the producer and so releases the layer being read.
  return Readable.from(pack, { objectMode: false });
}

export interface ExtractOptions {
  /** Which paths to write (normalised: `usr/lib/x`, no leading `./` or `/`); directories leading to them are created. */
  include?: (path: string) => boolean;
}

/**
 * Writes the merged tree into `destDir`: regular files, directories, symlinks
 * and hard links, with their permission bits; no ownership, no device nodes
 * or fifos. Nothing is ever written outside `destDir` or through a symlink:
 * an entry below a symlink or file, or escaping with `..`, fails the extraction.
 */
export async function extractImage(repo: ImageRepository, manifest: ImageManifest, destDir: string, options: ExtractOptions = {}): Promise<void> {
  await mkdir(destDir, { recursive: true });
  const writer = new TreeWriter(await realpath(destDir), repo.location);
  for await (const entry of mergeLayers(repo, manifest)) {
    if (options.include !== undefined && !options.include(entry.path)) continue;
    await writer.write(entry);
  }
  await writer.finish();
}

type MarkKind = 'dir' | 'other' | 'whiteout';

interface Mark {
  /** Depth of the layer that decided this path: 0 is the top layer. */
  layer: number;
  kind: MarkKind;
  /** A directory only implied by paths below it so far: a lower layer's header may still give its metadata. */
  implied: boolean;
  /** Whether a header was passed on for it (directories only implied get a synthetic one at the end). */
  headed: boolean;
  /** Depth of the topmost layer that made this directory opaque. */
  opaque?: number;
}

/**
 * Relative path without `.`/`..` components or slashes at either end; `''` is
 * the root; undefined when `..` would leave the root.
 */
export function normalizeEntryPath(name: string): string | undefined {
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else {
      parts.push(part);
    }
  }
  return parts.join('/');
}

/** `a/b/c` → `''`, `a`, `a/b`. */
function ancestors(path: string): string[] {
  const result = [''];
  for (let at = path.indexOf('/'); at >= 0; at = path.indexOf('/', at + 1)) result.push(path.slice(0, at));
  return result;
}

function parentOf(path: string): string {
  const at = path.lastIndexOf('/');
  return at < 0 ? '' : path.slice(0, at);
}

function baseOf(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/**
 * What the layers above have decided about each path. Layers are fed top-down
 * (depth 0 is the top layer); a mark only ever affects deeper layers, and
 * entries of the same layer as the mark replace it, as in a tar.
 */
class UpperLayers {
  private readonly marks = new Map<string, Mark>();

  constructor(private readonly invalid: (depth: number, detail: string) => OciError) {}

  get(path: string): Mark | undefined {
    return this.marks.get(path);
  }

  /**
   * Whether the directories an entry of layer `depth` lies in show through
   * the upper layers. Those no upper layer has exist in this layer, even when
   * the entry itself is hidden: they are recorded as implied directories.
   */
  reach(path: string, depth: number): boolean {
    for (const ancestor of ancestors(path)) {
      const mark = this.marks.get(ancestor);
      if (mark === undefined) {
        if (ancestor !== '') this.marks.set(ancestor, { layer: depth, kind: 'dir', implied: true, headed: false });
      } else if (mark.layer === depth && mark.kind === 'other') {
        throw this.invalid(depth, `entry ${JSON.stringify(path)} lies below ${JSON.stringify(ancestor)}, which is not a directory`);
      } else if (mark.layer === depth && mark.kind === 'whiteout') {
        // Removed from the layers below, recreated by this one: nothing below shows through.
        this.marks.set(ancestor, { layer: depth, kind: 'dir', implied: false, headed: false, opaque: depth });
      } else if ((mark.kind !== 'dir' && mark.layer < depth) || (mark.opaque !== undefined && mark.opaque < depth)) {
        return false;
      }
    }
    return true;
  }

  /** Directories that exist but no layer gave a header for, parents first. */
  *headerless(): Generator<string> {
    for (const [path, mark] of this.marks) if (path !== '' && mark.kind === 'dir' && !mark.headed) yield path;
  }

  /** Records a whiteout or opaque marker found at `path` in layer `depth`. */
  whiteout(path: string, depth: number): void {
    const parent = parentOf(path);
    const base = baseOf(path);
    if (base === OPAQUE_MARKER) {
      const mark = this.marks.get(parent);
      if (mark === undefined) this.marks.set(parent, { layer: depth, kind: 'dir', implied: false, headed: false, opaque: depth });
      else mark.opaque ??= depth;
      return;
    }
    if (base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) return; // AUFS bookkeeping, not content
    const name = base.slice(WHITEOUT_PREFIX.length);
    const target = parent === '' ? name : `${parent}/${name}`;
    const mark = this.marks.get(target);
    if (mark === undefined) {
      this.marks.set(target, { layer: depth, kind: 'whiteout', implied: false, headed: false });
    } else if (mark.kind === 'dir') {
      // A directory an upper layer (re)created: what the layers below this one have in it is gone.
      mark.opaque ??= depth;
      mark.implied = false;
    }
  }

  /** Whether an entry (whose directories are shown) is visible; records it when it is. */
  admit(path: string, isDir: boolean, depth: number): boolean {
    const existing = this.marks.get(path);
    if (existing !== undefined && existing.kind === 'dir' && isDir && (existing.layer === depth || existing.implied)) {
      existing.implied = false; // a lower layer's header fills in what an upper layer only implied
      existing.headed = true;
      return true;
    }
    if (existing !== undefined && existing.layer < depth) return false;
    const recreated = isDir && existing?.layer === depth && existing.kind === 'whiteout';
    this.marks.set(path, { layer: depth, kind: isDir ? 'dir' : 'other', implied: false, headed: true, ...(recreated && { opaque: depth }) });
    return true;
  }
}

/**
 * The visible entries of all layers, top layer first, then a synthetic header
 * (mode 0755) for each directory that only paths below it implied, so that
 * every directory has exactly one header.
 */
async function* mergeLayers(repo: ImageRepository, manifest: ImageManifest): AsyncGenerator<MergedEntry> {
  const layers = manifest.layers;
  const layerImage = (depth: number): string => `${repo.location}@${layers[layers.length - 1 - depth]!.digest}`;
  const invalid = (depth: number, detail: string): OciError => new OciError('invalid', 'read layer', layerImage(depth), detail);
  const upper = new UpperLayers(invalid);
  for (let depth = 0; depth < layers.length; depth++) {
    const layer = layers[layers.length - 1 - depth]!;
    // Visible hard links whose target this layer does not show: target → link paths.
    const pendingLinks = new Map<string, string[]>();

    for await (const { header, stream } of readLayer(repo, layer, layerImage(depth))) {
      const path = normalizeEntryPath(header.name);
      if (path === undefined) throw invalid(depth, `entry ${JSON.stringify(header.name)} points outside the image root`);
      if (path === '' || !KNOWN_TYPES.has(header.type)) continue; // (sparse files, vendor extensions: not in image layers)

      if (!upper.reach(path, depth)) continue;
      if (baseOf(path).startsWith(WHITEOUT_PREFIX)) {
        upper.whiteout(path, depth);
        continue;
      }
      const type = header.type === 'contiguous-file' ? 'file' : header.type;
      if (!upper.admit(path, type === 'directory', depth)) continue;

      const out = { ...outputHeader(header, path), type };
      if (type === 'link') {
        const target = normalizeEntryPath(header.linkname ?? '');
        if (target === undefined || target === '') throw invalid(depth, `hard link ${JSON.stringify(header.name)} points outside the image root`);
        out.linkname = target;
        const targetMark = upper.get(target);
        const targetShown = targetMark !== undefined && targetMark.layer === depth && targetMark.kind === 'other' && !isPendingLink(pendingLinks, target);
        if (!targetShown) {
          pendingLinks.set(target, [...(pendingLinks.get(target) ?? []), path]);
          continue;
        }
      }
      yield { path, header: out, content: type === 'file' ? stream : undefined };
    }

    if (pendingLinks.size > 0) yield* relinkHiddenTargets(repo, layer, layerImage(depth), pendingLinks);
  }
  for (const dir of upper.headerless()) yield { path: dir, header: syntheticDirectory(dir), content: undefined };
}

function syntheticDirectory(path: string): TarHeader {
  return { name: `${path}/`, type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: new Date(0) };
}

function isPendingLink(pendingLinks: Map<string, string[]>, path: string): boolean {
  for (const paths of pendingLinks.values()) if (paths.includes(path)) return true;
  return false;
}

/**
 * Second pass over a layer for hard links whose target an upper layer hid:
 * the first link gets the target's content, the others link to it.
 */
async function* relinkHiddenTargets(
  repo: ImageRepository,
  layer: Descriptor,
  image: string,
  pendingLinks: Map<string, string[]>,
): AsyncGenerator<MergedEntry> {
  for await (const { header, stream } of readLayer(repo, layer, image)) {
    const path = normalizeEntryPath(header.name);
    const links = path === undefined ? undefined : pendingLinks.get(path);
    if (links === undefined || (header.type !== 'file' && header.type !== 'contiguous-file' && header.type !== 'symlink')) continue;
    pendingLinks.delete(path!);
    const [first, ...rest] = links as [string, ...string[]];
    const type = header.type === 'symlink' ? 'symlink' : 'file';
    yield { path: first, header: { ...outputHeader(header, first), type }, content: type === 'file' ? stream : undefined };
    for (const other of rest) yield { path: other, header: { ...outputHeader(header, other), type: 'link', size: 0, linkname: first }, content: undefined };
    if (pendingLinks.size === 0) return;
  }
  const [target, links] = pendingLinks.entries().next().value as [string, string[]];
  throw new OciError('invalid', 'read layer', image, `hard link ${JSON.stringify(links[0])} points to ${JSON.stringify(target)}, which is not a file in the layer`);
}

/** The header we pass on: normalised name, the layer's metadata, extended attributes kept. */
function outputHeader(header: Header, path: string): TarHeader {
  const out: TarHeader = {
    name: header.type === 'directory' ? `${path}/` : path,
    type: header.type,
    mode: (header.mode ?? 0) & 0o7777,
    uid: header.uid ?? 0,
    gid: header.gid ?? 0,
    size: header.type === 'file' || header.type === 'contiguous-file' ? (header.size ?? 0) : 0,
    mtime: header.mtime ?? new Date(0),
    linkname: header.linkname ?? '',
    uname: header.uname ?? '',
    gname: header.gname ?? '',
    devmajor: header.devmajor ?? 0,
    devminor: header.devminor ?? 0,
  };
  // Path, link and size records are regenerated from the fields above; xattrs (file capabilities) must survive.
  const pax = header.pax as Record<string, string> | null | undefined;
  if (pax) {
    const xattrs = Object.entries(pax).filter(([key]) => key.startsWith('SCHILY.xattr.') || key.startsWith('LIBARCHIVE.xattr.'));
    if (xattrs.length > 0) out.pax = Object.fromEntries(xattrs);
  }
  return out;
}

interface LayerEntry {
  header: Header;
  stream: EntryContent;
}

/**
 * A layer's tar entries. The codec comes from the content (gzip, zstd, xz or
 * plain tar), not the media type: registries mislabel layers both ways. Each
 * entry's content that the caller leaves unread is skipped; the blob's digest
 * is checked before the last entry counts as read.
 */
async function* readLayer(repo: ImageRepository, layer: Descriptor, image: string): AsyncGenerator<LayerEntry> {
  const blob = await repo.openBlob(layer);
  const { codec, stream: raw } = await peekCodec(blob);
  const tar = extract();
  // (tar-stream's streams are streamx streams: Node's pipeline drives them, but they are not typed as Node streams.)
  const done = (codec === 'none' ? pipeline(raw, tar as never) : pipeline(raw, decompressStream(codec), tar as never)).catch((error: unknown) => {
    throw error instanceof OciError ? error : new OciError('invalid', 'read layer', image, `cannot read the layer as ${codec === 'none' ? 'a tar' : `a ${codec}-compressed tar`}: ${(error as Error).message}`, undefined, { cause: error });
  });
  done.catch(() => undefined); // awaited below; the entry loop may stop first
  const entries = tar[Symbol.asyncIterator]();
  try {
    for (;;) {
      let next: IteratorResult<EntryContent>;
      try {
        next = await entries.next();
      } catch {
        await done; // the pipeline's error says what went wrong
        throw new OciError('invalid', 'read layer', image, 'the layer could not be read');
      }
      if (next.done) break;
      const entry = next.value;
      try {
        yield { header: entry.header, stream: entry };
      } finally {
        entry.resume(); // drain what the consumer did not read, or the tar parser stalls
      }
    }
    await done;
  } finally {
    if (!tar.destroyed) tar.destroy();
    blob.destroy();
  }
}

/**
 * Writes merged entries under `root` without ever following a symlink:
 * parents are checked to be real directories (or created), files are created
 * with O_EXCL|O_NOFOLLOW after whatever was there is removed.
 */
class TreeWriter {
  /** Paths known to be real directories (relative; `''` is the root). */
  private readonly dirs = new Set<string>(['']);
  /** Directory modes, applied last so read-only directories can be filled first. */
  private readonly dirModes = new Map<string, number>();

  constructor(
    private readonly root: string,
    private readonly image: string,
  ) {}

  async write(entry: MergedEntry): Promise<void> {
    const { path, header } = entry;
    await this.ensureParents(path);
    const full = join(this.root, path);
    const mode = (header.mode ?? 0) & 0o7777;
    switch (header.type) {
      case 'directory': {
        const existing = await lstatOrUndefined(full);
        if (existing === undefined || !existing.isDirectory()) {
          if (existing !== undefined) await this.remove(path);
          await mkdir(full, { mode: 0o700 });
        }
        this.dirs.add(path);
        this.dirModes.set(path, mode);
        return;
      }
      case 'file': {
        await this.remove(path);
        const file = await open(full, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
        try {
          if (entry.content !== undefined) await writeChunks(file, entry.content as AsyncIterable<Buffer>);
          await file.chmod(mode);
        } finally {
          await file.close();
        }
        return;
      }
      case 'symlink':
        await this.remove(path);
        await symlink(header.linkname ?? '', full);
        return;
      case 'link': {
        const target = header.linkname ?? '';
        if (target === path) return;
        await this.checkParents(target, path);
        const existing = await lstatOrUndefined(join(this.root, target));
        if (existing === undefined || existing.isDirectory()) {
          throw new OciError(
            'invalid',
            'extract',
            this.image,
            `hard link ${JSON.stringify(path)}: its target ${JSON.stringify(target)} ${existing ? 'is a directory' : 'was not extracted (outside the selected paths?)'}`,
          );
        }
        await this.remove(path);
        await link(join(this.root, target), full);
        return;
      }
      default:
        return; // device nodes and fifos need privileges or make no sense in an extracted tree
    }
  }

  async finish(): Promise<void> {
    const deepestFirst = [...this.dirModes].sort(([a], [b]) => b.split('/').length - a.split('/').length);
    for (const [path, mode] of deepestFirst) await chmod(join(this.root, path), mode);
  }

  /** Creates missing parent directories; fails when one is a symlink or a file. */
  private async ensureParents(path: string): Promise<void> {
    for (const dir of ancestors(path)) {
      if (this.dirs.has(dir)) continue;
      const stat = await lstatOrUndefined(join(this.root, dir));
      if (stat === undefined) {
        await mkdir(join(this.root, dir), { mode: 0o700 });
        this.dirModes.set(dir, 0o755);
      } else if (!stat.isDirectory()) {
        throw this.notADirectory(path, dir, stat.isSymbolicLink());
      }
      this.dirs.add(dir);
    }
  }

  /** A hard link's target must be reached through real directories only. */
  private async checkParents(target: string, path: string): Promise<void> {
    for (const dir of ancestors(target)) {
      if (this.dirs.has(dir)) continue;
      const stat = await lstatOrUndefined(join(this.root, dir));
      if (stat !== undefined && !stat.isDirectory()) throw this.notADirectory(path, dir, stat.isSymbolicLink());
    }
  }

  /** Removes whatever is at `path` (a same-layer replacement), forgetting directories below it. */
  private async remove(path: string): Promise<void> {
    const full = join(this.root, path);
    const existing = await lstatOrUndefined(full);
    if (existing === undefined) return;
    if (existing.isDirectory()) {
      await rm(full, { recursive: true, force: true });
      for (const known of [...this.dirs]) if (known === path || known.startsWith(`${path}/`)) this.dirs.delete(known);
      for (const known of [...this.dirModes.keys()]) if (known === path || known.startsWith(`${path}/`)) this.dirModes.delete(known);
    } else {
      await rm(full, { force: true });
    }
  }

  private notADirectory(path: string, dir: string, symlink: boolean): OciError {
    return new OciError('invalid', 'extract', this.image, `entry ${JSON.stringify(path)} lies below ${JSON.stringify(dir)}, which is a ${symlink ? 'symlink' : 'file'}`);
  }
}

/** Writes every chunk in full (a write stream made with autoClose: false would keep the handle from closing). */
async function writeChunks(file: FileHandle, chunks: AsyncIterable<Buffer>): Promise<void> {
  for await (const chunk of chunks) {
    for (let offset = 0; offset < chunk.length; ) offset += (await file.write(chunk, offset)).bytesWritten;
  }
}

async function lstatOrUndefined(path: string): Promise<Awaited<ReturnType<typeof lstat>> | undefined> {
  try {
    return await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
