// How long `talosctl upgrade` waits for an installer manifest: a cold request
// (nothing built, the request builds it), the same request warm (cached), and a
// request right after the schematic was created with prebuilding on (it joins
// the build started then). Upstream builds on the cold request only (#456).
//
//   npm run bench:installer

import { rmSync } from 'node:fs';
import { createSchematic, ensureDevRelease, ratio, startFactory } from './lib/service.js';

const release = await ensureDevRelease();
// Installers are built for Talos < 1.10 so far: offer only that version.
const legacy = release.versions.find((v) => v.startsWith('v1.7.'))!;
const broken = release.versions.filter((v) => v !== legacy).join(',');

async function head(url: string): Promise<number> {
  const start = process.hrtime.bigint();
  const res = await fetch(url, { method: 'HEAD' });
  if (res.status !== 200) throw new Error(`${url}: ${res.status}`);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

const schematic = (n: string) =>
  `customization:\n  extraKernelArgs: [bench=${n}]\n  systemExtensions:\n    officialExtensions: [${release.extensions[legacy]!.map((e) => e.repository).join(', ')}]\n`;

const plain = await startFactory({ IF_BROKEN_TALOS_VERSIONS: broken, IF_PREBUILD_INSTALLERS: 'false', IF_METRICS_LISTEN: '' });
const prebuilding = await startFactory({ IF_BROKEN_TALOS_VERSIONS: broken, IF_METRICS_LISTEN: '' });
try {
  const id = await createSchematic(plain.url, schematic('cold'));
  const manifest = `${plain.url}/v2/installer/${id}/manifests/${legacy}`;
  const cold = await head(manifest);
  const warm = await head(manifest);
  const pre = await createSchematic(prebuilding.url, schematic('pre'));
  const afterPrebuild = await head(`${prebuilding.url}/v2/installer/${pre}/manifests/${legacy}`);
  console.log(`installer manifest for ${legacy} with ${release.extensions[legacy]!.length} extensions`);
  console.log(`cold (builds on request):                ${cold.toFixed(0)} ms`);
  console.log(`warm (cached):                           ${warm.toFixed(1)} ms  (cold / warm ${ratio(cold, warm)})`);
  console.log(`right after creation (joins the prebuild): ${afterPrebuild.toFixed(0)} ms  (ratio to cold ${ratio(afterPrebuild, cold)}; any later request is warm)`);
} finally {
  for (const svc of [plain, prebuilding]) {
    await svc.stop();
    rmSync(svc.dataDir, { recursive: true, force: true });
  }
}
