// A cold build of an initramfs with the development release's four sample
// extensions: our builder (own squashfs and cpio writers) against the way
// Talos' imager does it with host tools (mksquashfs per layer, GNU cpio, the
// zstd CLI), on the same inputs in the same run; both include the modules.dep
// layer (depmod over the base modules plus the extension's).
//
//   npm run bench:initramfs

import { execFileSync } from 'node:child_process';
import { cpSync, createWriteStream, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { loadExtension } from '../src/build/extensions/load.js';
import { renderExtensionsYaml } from '../src/build/extensions/extensions-yaml.js';
import { buildInitramfs } from '../src/build/initramfs/build.js';
import { parsePathVersion } from '../src/talos/version.js';
import { ensureDevRelease } from './lib/service.js';

const release = await ensureDevRelease();
const tag = release.versions.at(-1)!;
const version = parsePathVersion(tag);
const base = release.boot[tag]!.initramfs;
const extensions = await Promise.all(release.extensions[tag]!.map((e) => loadExtension(e.tree, e.name)));
const work = mkdtempSync(join(tmpdir(), 'if-bench-initramfs-'));

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

try {
  const oursOut = join(work, 'ours.img');
  // Twice: the first build in a fresh process also loads the compression bindings; a running
  // service pays that once, so the second (cold inputs, warm process) is the figure that counts.
  const times: number[] = [];
  for (const round of [1, 2]) {
    const start = process.hrtime.bigint();
    const out = createWriteStream(oursOut);
    await buildInitramfs({ talosVersion: version, baseInitramfs: base, extensions, workDir: join(work, `ours-${round}`) }, out);
    await finished(out);
    times.push(seconds(start));
  }
  const ours = times[1]!;

  // The host-tool pipeline, as Talos' imager runs it.
  const start = process.hrtime.bigint();
  const stage = join(work, 'tools');
  mkdirSync(stage, { recursive: true });
  const modules = join(work, 'modules');
  mkdirSync(modules);
  const sh = (script: string) => execFileSync('bash', ['-euo', 'pipefail', '-c', script]);
  sh(`cd ${modules} && zstd -dc ${base} | cpio -i --quiet rootfs.sqsh && unsquashfs -no-xattrs -q -d ${modules}/root -f -n rootfs.sqsh usr/lib/modules`);
  const kver = release.kernel.release;
  for (const ext of extensions) sh(`[ ! -d ${ext.rootfs}/usr/lib/modules ] || cp -a ${ext.rootfs}/usr/lib/modules/${kver}/. ${modules}/root/usr/lib/modules/${kver}/`);
  writeFileSync(join(modules, 'extra.conf'), 'search extras built-in\n');
  sh(`depmod --all --basedir ${modules}/root/usr --config ${modules}/extra.conf ${kver}`);
  sh(`mkdir -p ${modules}/dep/usr/lib/modules/${kver} && mv ${modules}/root/usr/lib/modules/${kver}/modules.* ${modules}/dep/usr/lib/modules/${kver}/`);
  extensions.forEach((ext, i) => {
    const rootfs = join(work, `rootfs-${i}`);
    cpSync(ext.rootfs, rootfs, { recursive: true, verbatimSymlinks: true });
    const firmware = join(rootfs, 'usr/lib/firmware');
    try {
      cpSync(firmware, join(stage, 'usr/lib/firmware'), { recursive: true });
      rmSync(firmware, { recursive: true });
    } catch {
      // no firmware in this extension
    }
    execFileSync('mksquashfs', [rootfs, join(stage, `${i}.sqsh`), '-all-root', '-noappend', '-no-progress', '-quiet', '-comp', 'zstd', '-Xcompression-level', '18']);
  });
  execFileSync('mksquashfs', [join(modules, 'dep'), join(stage, 'modules.dep.sqsh'), '-all-root', '-noappend', '-no-progress', '-quiet', '-comp', 'zstd', '-Xcompression-level', '18']);
  writeFileSync(join(stage, 'extensions.yaml'), renderExtensionsYaml(extensions.map((e, i) => ({ image: `${i}.sqsh`, metadata: e.metadata }))));
  const toolsOut = join(work, 'tools.img');
  cpSync(base, toolsOut);
  execFileSync('bash', ['-c', `cd ${stage} && find . -mindepth 1 | LC_ALL=C sort | cpio -H newc --create --reproducible --quiet -R +0:+0 | zstd -T0 -18 -c --quiet >> ${toolsOut}`]);
  const tools = seconds(start);

  console.log(`initramfs for ${tag} with ${extensions.length} extensions (cold, zstd -18)`);
  console.log(`ours (own squashfs + cpio writers): ${ours.toFixed(2)} s (first build in this process: ${times[0]!.toFixed(2)} s), ${(statSync(oursOut).size / 1e6).toFixed(2)} MB`);
  console.log(`host tools (mksquashfs, cpio, zstd): ${tools.toFixed(2)} s, ${(statSync(toolsOut).size / 1e6).toFixed(2)} MB`);
  console.log(`time ratio ours / host tools: ${(ours / tools).toFixed(2)}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
