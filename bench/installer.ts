// How long `talosctl upgrade` waits for an installer manifest, for each Talos
// version of the development release (before 1.10 the installer carries the
// kernel and initramfs; from 1.10 systemd-boot and a UKI, which takes longer to
// build): a cold request (nothing built, the request builds it), the same
// request warm (cached), and, for the newest version, a request right after the
// schematic was created with prebuilding on (it joins the build started then).
// Upstream builds on the cold request only (#456).
//
//   npm run bench:installer

import { rmSync } from 'node:fs';
import { createSchematic, ensureDevRelease, ratio, startFactory } from './lib/service.js';

const release = await ensureDevRelease();
const newest = release.versions.at(-1)!;

async function head(url: string): Promise<number> {
  const start = process.hrtime.bigint();
  const res = await fetch(url, { method: 'HEAD' });
  if (res.status !== 200) throw new Error(`${url}: ${res.status}`);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

// The newest version's extensions (the older versions of the development release have the same names).
const extensions = release.extensions[newest]!.map((e) => e.repository);
const schematic = (n: string) => `customization:\n  extraKernelArgs: [bench=${n}]\n  systemExtensions:\n    officialExtensions: [${extensions.join(', ')}]\n`;

// The test helper starts services with prebuilding off; each service here says what it wants.
const plain = await startFactory({ IF_PREBUILD_INSTALLERS: 'false', IF_METRICS_LISTEN: '' });
const prebuilding = await startFactory({ IF_PREBUILD_INSTALLERS: 'true', IF_METRICS_LISTEN: '' });
try {
  // The first request for a version also pulls its release inputs (imager files, installer base,
  // extensions) into the data directory; a second schematic's cold request is a build only, the usual
  // case on a running factory.
  const first = await createSchematic(plain.url, schematic('first'));
  const second = await createSchematic(plain.url, schematic('second'));
  console.log(`installer manifest (HEAD), ${extensions.length} extensions`);
  let newestCold = 0;
  for (const version of release.versions) {
    const manifest = (id: string) => `${plain.url}/v2/installer/${id}/manifests/${version}`;
    const pulling = await head(manifest(first));
    const cold = await head(manifest(second));
    const warm = await head(manifest(second));
    if (version === newest) newestCold = cold;
    console.log(`${version.padEnd(8)} cold, first of the version (pulls inputs): ${pulling.toFixed(0).padStart(6)} ms`);
    console.log(`${version.padEnd(8)} cold (builds on request):                  ${cold.toFixed(0).padStart(6)} ms`);
    console.log(`${version.padEnd(8)} warm (cached):                             ${warm.toFixed(1).padStart(6)} ms  (cold / warm ${ratio(cold, warm)})`);
  }
  // Inputs pulled first, so that the prebuild is a build only, as cold above.
  await head(`${prebuilding.url}/v2/installer/${await createSchematic(prebuilding.url, schematic('first'))}/manifests/${newest}`);
  const pre = await createSchematic(prebuilding.url, schematic('pre'));
  const afterPrebuild = await head(`${prebuilding.url}/v2/installer/${pre}/manifests/${newest}`);
  const later = await head(`${prebuilding.url}/v2/installer/${pre}/manifests/latest`);
  console.log(`${newest.padEnd(8)} right after creation (joins the prebuild):  ${afterPrebuild.toFixed(0).padStart(6)} ms  (ratio to cold ${ratio(afterPrebuild, newestCold)})`);
  console.log(`${newest.padEnd(8)} any later request (latest):                ${later.toFixed(1).padStart(6)} ms`);
} finally {
  for (const svc of [plain, prebuilding]) {
    await svc.stop();
    rmSync(svc.dataDir, { recursive: true, force: true });
  }
}
