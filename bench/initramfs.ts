// A cold build of an initramfs with the development release's four sample
// extensions: our builder (own squashfs and cpio writers) against the way
// Talos' imager does it with host tools (mksquashfs per layer, GNU cpio, the
// zstd CLI), on the same inputs in the same run; both include the modules.dep
// layer (depmod over the base modules plus the extension's). A build takes
// 0.1-0.2 s, so single runs are at the mercy of the scheduler: after one
// warm-up build of ours (which also unpacks the base kernel modules, once per
// base initramfs, as a service's first build of a release does; the host-tool
// pipeline unpacks them every time, as Talos' imager does), both run
// `--rounds` times in turn (default 7) and the medians are compared, wall and
// CPU (the process and its children).
//
//   npm run bench:initramfs [-- --rounds 7]

import { execFileSync } from 'node:child_process';
import { cpSync, createWriteStream, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { loadExtension } from '../src/build/extensions/load.js';
import { renderExtensionsYaml } from '../src/build/extensions/extensions-yaml.js';
import { buildInitramfs } from '../src/build/initramfs/build.js';
import { parsePathVersion } from '../src/talos/version.js';
import { numberOption } from './lib/args.js';
import { ensureDevRelease } from './lib/service.js';
import { measure, median } from './lib/timing.js';

const release = await ensureDevRelease();
const tag = release.versions.at(-1)!;
const version = parsePathVersion(tag);
const base = release.boot[tag]!.initramfs;
const extensions = await Promise.all(release.extensions[tag]!.map((e) => loadExtension(e.tree, e.name)));
const work = mkdtempSync(join(tmpdir(), 'if-bench-initramfs-'));

const rounds = numberOption('--rounds', 7);
const oursOut = join(work, 'ours.img');
const toolsOut = join(work, 'tools.img');

async function ours(round: number): Promise<void> {
  const out = createWriteStream(oursOut);
  await buildInitramfs({ talosVersion: version, baseInitramfs: base, extensions, workDir: join(work, `ours-${round}`) }, out);
  await finished(out);
}

/** The host-tool pipeline, as Talos' imager runs it. */
function hostTools(round: number): void {
  const dir = join(work, `tools-${round}`);
  const stage = join(dir, 'stage');
  mkdirSync(stage, { recursive: true });
  const modules = join(dir, 'modules');
  mkdirSync(modules);
  const sh = (script: string) => execFileSync('bash', ['-euo', 'pipefail', '-c', script]);
  sh(`cd ${modules} && zstd -dc ${base} | cpio -i --quiet rootfs.sqsh && unsquashfs -no-xattrs -q -d ${modules}/root -f -n rootfs.sqsh usr/lib/modules`);
  const kver = release.kernel.release;
  for (const ext of extensions) sh(`[ ! -d ${ext.rootfs}/usr/lib/modules ] || cp -a ${ext.rootfs}/usr/lib/modules/${kver}/. ${modules}/root/usr/lib/modules/${kver}/`);
  writeFileSync(join(modules, 'extra.conf'), 'search extras built-in\n');
  sh(`depmod --all --basedir ${modules}/root/usr --config ${modules}/extra.conf ${kver}`);
  sh(`mkdir -p ${modules}/dep/usr/lib/modules/${kver} && mv ${modules}/root/usr/lib/modules/${kver}/modules.* ${modules}/dep/usr/lib/modules/${kver}/`);
  extensions.forEach((ext, i) => {
    const rootfs = join(dir, `rootfs-${i}`);
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
  cpSync(base, toolsOut);
  execFileSync('bash', ['-c', `cd ${stage} && find . -mindepth 1 | LC_ALL=C sort | cpio -H newc --create --reproducible --quiet -R +0:+0 | zstd -T0 -18 -c --quiet >> ${toolsOut}`]);
}

try {
  // The first build in a fresh process also loads modules and starts the compression workers; a
  // running service pays that once, so the builds after it (cold inputs, warm process) are what count.
  const first = await measure(() => ours(0));
  const oursTimes: Array<{ wall: number; cpu: number }> = [];
  const toolTimes: Array<{ wall: number; cpu: number }> = [];
  for (let round = 1; round <= rounds; round++) {
    oursTimes.push(await measure(() => ours(round)));
    toolTimes.push(await measure(() => hostTools(round)));
  }
  const wall = (times: Array<{ wall: number }>) => median(times.map((t) => t.wall));
  const cpu = (times: Array<{ cpu: number }>) => median(times.map((t) => t.cpu));
  const show = (times: Array<{ wall: number; cpu: number }>) => `${wall(times).toFixed(3)} s (CPU ${cpu(times).toFixed(2)} s)`;

  console.log(`initramfs for ${tag} with ${extensions.length} extensions (cold, zstd -18), medians of ${rounds} rounds`);
  console.log(`ours (own squashfs + cpio writers): ${show(oursTimes)}, first build in this process ${first.wall.toFixed(3)} s, ${(statSync(oursOut).size / 1e6).toFixed(2)} MB`);
  console.log(`host tools (mksquashfs, cpio, zstd): ${show(toolTimes)}, ${(statSync(toolsOut).size / 1e6).toFixed(2)} MB`);
  console.log(`time ratio ours / host tools: ${(wall(oursTimes) / wall(toolTimes)).toFixed(2)} (CPU ${(cpu(oursTimes) / cpu(toolTimes)).toFixed(2)})`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
