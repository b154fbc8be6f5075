// The tree in the order the image stores it: children sorted by name bytes
// (what the kernel's lookup expects), inode numbers handed out breadth-first
// so that the entries of one directory have consecutive numbers (small deltas
// in the directory headers), the root being 1. Names and symlink targets are
// checked against the lengths Linux takes here, before anything is written.

import type { TreeNode } from '../file-tree.js';
import { SYMLINK_MAX, WRITE_NAME_MAX } from './constants.js';
import { SquashfsError } from './errors.js';

export interface PlannedNode {
  node: TreeNode;
  name: Buffer;
  /** Path inside the image, for messages. */
  path: string;
  inodeNumber: number;
  parent: PlannedNode | undefined;
  /** Directories only, sorted by name bytes. */
  children: PlannedNode[];
}

export function planTree(root: TreeNode): { root: PlannedNode; count: number } {
  const top: PlannedNode = { node: root, name: Buffer.alloc(0), path: '/', inodeNumber: 1, parent: undefined, children: [] };
  let next = 2;
  const queue: PlannedNode[] = [top];
  for (let i = 0; i < queue.length; i++) {
    const dir = queue[i]!;
    if (dir.node.kind !== 'directory') continue;
    const children = [...dir.node.children].map(([name, node]) => ({ name: Buffer.from(name, 'utf8'), node }));
    children.sort((a, b) => Buffer.compare(a.name, b.name));
    for (const { name, node } of children) {
      const path = dir.path === '/' ? `/${name.toString('utf8')}` : `${dir.path}/${name.toString('utf8')}`;
      if (name.length > WRITE_NAME_MAX) throw new SquashfsError(`squashfs: ${path}: name longer than ${WRITE_NAME_MAX} bytes`);
      if (node.kind === 'symlink' && Buffer.byteLength(node.target, 'utf8') > SYMLINK_MAX) throw new SquashfsError(`squashfs: ${path}: symlink target longer than ${SYMLINK_MAX} bytes`);
      const child: PlannedNode = { node, name, path, inodeNumber: next++, parent: dir, children: [] };
      dir.children.push(child);
      queue.push(child);
    }
  }
  return { root: top, count: next - 1 };
}

/** Every node, depth first in stored order (the order file data is written in). */
export function* depthFirst(node: PlannedNode): Generator<PlannedNode> {
  yield node;
  for (const child of node.children) yield* depthFirst(child);
}
