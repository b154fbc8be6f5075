// The tree in the order the image stores it: children sorted by name bytes
// (what the kernel's lookup expects), inode numbers handed out breadth-first
// so that the entries of one directory have consecutive numbers (small deltas
// in the directory headers), the root being 1.

import type { TreeNode } from './tree.js';

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
      const child: PlannedNode = {
        node,
        name,
        path: dir.path === '/' ? `/${name.toString('utf8')}` : `${dir.path}/${name.toString('utf8')}`,
        inodeNumber: next++,
        parent: dir,
        children: [],
      };
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
