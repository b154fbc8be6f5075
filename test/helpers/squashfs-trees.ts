// Source trees for the SquashFS tests, written to disk so that both our
// writer and mksquashfs can take them: a declarative list of entries, and the
// sample trees that exercise the format's corners.

import { createCipheriv, createHash } from 'node:crypto';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export type TreeSpec =
  | { path: string; type: 'dir'; mode?: number }
  | { path: string; type: 'file'; mode?: number; content: Buffer }
  | { path: string; type: 'symlink'; target: string };

/** Deterministic incompressible bytes (AES-CTR keystream of a seed). */
export function noise(seed: string, length: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(length)), cipher.final()]);
}

/** Deterministic compressible text. */
export function text(seed: string, length: number): Buffer {
  const words = ['squashfs', 'talos', 'kernel', 'module', 'block', 'fragment', 'inode', 'extension', seed];
  const parts: string[] = [];
  let size = 0;
  for (let i = 0; size <= length; i++) {
    const word = words[(i * 7 + (i >> 3)) % words.length]!;
    parts.push(word);
    size += word.length + 1;
  }
  // Always exactly `length` bytes: the tests depend on sizes at block boundaries.
  return Buffer.from(parts.join(' ')).subarray(0, length);
}

/** Writes the entries under `root` (created), applying modes deepest first so read-only dirs are no obstacle. */
export function buildTree(root: string, specs: readonly TreeSpec[], rootMode = 0o755): void {
  mkdirSync(root, { recursive: true });
  const modes: Array<[string, number]> = [];
  for (const spec of specs) {
    const full = join(root, spec.path);
    mkdirSync(dirname(full), { recursive: true });
    if (spec.type === 'dir') {
      mkdirSync(full, { recursive: true });
      modes.push([full, spec.mode ?? 0o755]);
    } else if (spec.type === 'file') {
      writeFileSync(full, spec.content);
      modes.push([full, spec.mode ?? 0o644]);
    } else {
      symlinkSync(spec.target, full);
    }
  }
  modes.sort((a, b) => b[0].length - a[0].length);
  for (const [path, mode] of modes) chmodSync(path, mode);
  chmodSync(root, rootMode);
}

/** The sample trees, by name; `blockSize` sets the file sizes that sit on block boundaries. */
export type SampleTree = 'empty' | 'nested' | 'many' | 'sizes';

export function sampleTrees(blockSize: number): Record<SampleTree, TreeSpec[]> {
  const bs = blockSize;
  const longName = (i: number) => `${String(i).padStart(4, '0')}-${'n'.repeat(225)}`;
  return {
    empty: [],
    nested: [
      { path: 'a/b/c/d/e/f/g', type: 'dir' },
      { path: 'a/file', type: 'file', content: text('a', 1000) },
      { path: 'a/b/c/deep', type: 'file', content: text('deep', 10) },
      { path: 'a/b/c/d/e/f/g/deepest', type: 'file', content: Buffer.from('bottom\n') },
      { path: 'a/empty', type: 'dir' },
      { path: 'z/empty', type: 'dir', mode: 0o700 },
      { path: 'z/sticky', type: 'dir', mode: 0o1777 },
      { path: 'z/readonly', type: 'dir', mode: 0o555 },
      { path: 'z/readonly/inside', type: 'file', content: Buffer.from('ro\n'), mode: 0o444 },
      { path: 'modes/exec', type: 'file', content: Buffer.from('#!/bin/sh\n'), mode: 0o755 },
      { path: 'modes/plain', type: 'file', content: Buffer.from('plain\n'), mode: 0o644 },
      { path: 'modes/private', type: 'file', content: Buffer.from('secret\n'), mode: 0o600 },
      { path: 'modes/setuid', type: 'file', content: Buffer.from('suid\n'), mode: 0o4755 },
      { path: 'modes/setgid', type: 'file', content: Buffer.from('sgid\n'), mode: 0o2755 },
      { path: 'modes/none', type: 'file', content: Buffer.from('none\n'), mode: 0o000 },
      { path: 'names/with space', type: 'file', content: Buffer.from('space\n') },
      { path: 'names/ünïcödé-名前', type: 'file', content: Buffer.from('utf8\n') },
      { path: `names/${'x'.repeat(255)}`, type: 'file', content: Buffer.from('255 ascii\n') },
      { path: `names/${'é'.repeat(127)}z`, type: 'file', content: Buffer.from('255 utf8 bytes\n') },
      { path: 'names/#hash=eq,comma', type: 'file', content: Buffer.from('punct\n') },
      { path: 'names/-dash', type: 'file', content: Buffer.from('dash\n') },
      { path: 'links/short', type: 'symlink', target: '../a/file' },
      { path: 'links/absolute', type: 'symlink', target: '/etc/hostname' },
      { path: 'links/dangling', type: 'symlink', target: 'does/not/exist' },
      { path: 'links/to-dir', type: 'symlink', target: '../a/b' },
      { path: 'links/long', type: 'symlink', target: `${'segment/'.repeat(125)}end` },
      { path: 'links/longest', type: 'symlink', target: `/${'t'.repeat(4094)}` },
    ],
    many: [
      ...Array.from({ length: 600 }, (_, i): TreeSpec => ({ path: `many/f${String(i).padStart(3, '0')}`, type: 'file', content: text(`f${i}`, i % 50) })),
      ...Array.from({ length: 300 }, (_, i): TreeSpec =>
        i % 10 === 0 ? { path: `long/${longName(i)}`, type: 'dir' } : { path: `long/${longName(i)}`, type: 'file', content: Buffer.from(`${i}\n`) },
      ),
      { path: 'top', type: 'file', content: Buffer.from('top\n') },
    ],
    sizes: [
      { path: 'size-0', type: 'file', content: Buffer.alloc(0) },
      { path: 'size-1', type: 'file', content: Buffer.from('1') },
      { path: 'size-bs-1', type: 'file', content: text('bs-1', bs - 1) },
      { path: 'size-bs', type: 'file', content: text('bs', bs) },
      { path: 'size-bs+1', type: 'file', content: text('bs+1', bs + 1) },
      { path: 'size-3bs+17', type: 'file', content: text('3bs+17', 3 * bs + 17) },
      { path: 'random-bs', type: 'file', content: noise('random-bs', bs) },
      { path: 'random-2bs+100', type: 'file', content: noise('random', 2 * bs + 100) },
      { path: 'holes', type: 'file', content: Buffer.concat([text('h1', 100), Buffer.alloc(bs - 100), Buffer.alloc(2 * bs), text('h2', bs + 9)]) },
      { path: 'zeros-2bs', type: 'file', content: Buffer.alloc(2 * bs) },
      { path: 'zeros-2bs+3', type: 'file', content: Buffer.alloc(2 * bs + 3) },
    ],
  };
}
