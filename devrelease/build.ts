// Builds the development release: Debian packages in, per-repository OCI
// layouts and release.json out. Every step is cached under <out>/work by a
// key of its inputs and every image is skipped when its inputs are those it
// was last written from, so a second run does almost nothing and gives the
// same digests.

import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { BOOT_FILES, buildBootFiles } from './boot.js';
import { type CatalogEntry, descriptionsYaml, imageDigests, overlaysYaml } from './catalogs.js';
import { codeHash as computeCodeHash } from './code-hash.js';
import { DebCache } from './debs.js';
import { type ExtensionSource, buildExtensionTree, extensionTag, loadExtensionSources } from './extensions.js';
import { extensionPlan, filesPlan, imagerPlan, installerPlan } from './images.js';
import { type DebianInputs, fetchDebianInputs } from './inputs.js';
import { findModule, withDependencies } from './kernel.js';
import { OVERLAY, stageFiles, stageGrub, stageImagerInstall, stageInstallerArtifacts, stageInstallerBase, stageOverlay } from './layers.js';
import { withBuildLock } from './lock.js';
import { pruneLayout } from './prune.js';
import { LayoutPublisher, type PublishedImage } from './publish.js';
import { type DevReleaseInfo, type ExtensionInfo, type ImageInfo, type OverlayInfo, writeReleaseInfo } from './release-info.js';
import { ROOTFS_MODULES } from './rootfs.js';
import { DEVRELEASE_DIR } from './scripts.js';
import { Steps, keyOf } from './steps.js';
import { type TalosRelease, compareReleases, talosRelease } from './talos.js';

export const DEFAULT_VERSIONS = ['v1.7.6', 'v1.12.0'];
export const REPO_DIR = resolve(DEVRELEASE_DIR, '..');
export const DEFAULT_OUT = join(REPO_DIR, '.cache', 'dev-release');
export const DEFAULT_EXTENSIONS_DIR = join(REPO_DIR, 'extensions');

export interface BuildOptions {
  out?: string;
  versions?: string[];
  extensionsDir?: string;
  log?: (message: string) => void;
}

interface Context {
  out: string;
  codeHash: string;
  inputs: DebianInputs;
  steps: Steps;
  publisher: LayoutPublisher;
  images: ImageInfo[];
  log: (message: string) => void;
}

export async function buildDevRelease(options: BuildOptions = {}): Promise<DevReleaseInfo> {
  const out = resolve(options.out ?? DEFAULT_OUT);
  await mkdir(out, { recursive: true });
  return withBuildLock(out, () => build(out, options));
}

async function build(out: string, options: BuildOptions): Promise<DevReleaseInfo> {
  const log = options.log ?? (() => undefined);
  const releases = (options.versions ?? DEFAULT_VERSIONS).map(talosRelease).sort(compareReleases);
  const codeHash = await computeCodeHash();
  log('resolving and fetching Debian packages');
  const inputs = await fetchDebianInputs(new DebCache(join(out, 'debs')));
  log(`kernel ${inputs.kernel.release} (${inputs.kernel.deb.id})`);
  const sources = await loadExtensionSources(options.extensionsDir ?? DEFAULT_EXTENSIONS_DIR);
  const ctx: Context = {
    out,
    codeHash,
    inputs,
    steps: new Steps(join(out, 'work')),
    publisher: new LayoutPublisher(join(out, 'layout'), join(out, 'work', 'stamps')),
    images: [],
    log,
  };

  const grub = await ctx.steps.run('imager-grub', keyOf({ codeHash, pc: inputs.grubPc.deb.id, efi: inputs.grubEfi.deb.id }), (dir) =>
    stageGrub(dir, inputs.grubPc, inputs.grubEfi),
  );
  const overlay = await publishOverlay(ctx);

  const info: DevReleaseInfo = {
    codeHash,
    outDir: out,
    layoutDir: ctx.publisher.layoutRoot,
    versions: releases.map((r) => r.tag),
    kernel: { release: inputs.kernel.release, package: inputs.kernel.deb.id },
    boot: {},
    extensions: {},
    overlays: {},
    images: ctx.images,
  };
  for (const release of releases) {
    log(`${release.tag}: boot files, imager, installer, extensions, catalogs`);
    const boot = await buildVersionBoot(ctx, release);
    info.boot[release.tag] = {
      kernel: inputs.kernel.vmlinuz,
      initramfs: join(boot, BOOT_FILES.initramfs),
      rootfsSqsh: join(boot, BOOT_FILES.rootfs),
      compression: release.zstd ? 'zstd' : 'xz',
      modulesPath: release.modulesPath,
      firmwarePath: release.firmwarePath,
    };
    await publishImager(ctx, release, boot, grub);
    await publishInstaller(ctx, release, boot);
    info.extensions[release.tag] = await publishExtensions(ctx, release, sources);
    info.overlays[release.tag] = [overlay];
    await publishCatalogs(ctx, release, info.extensions[release.tag]!, [overlay]);
  }
  const repositories = [...new Set(ctx.images.map((i) => i.repository))];
  for (const repository of repositories) {
    const removed = await pruneLayout(ctx.publisher.layoutDir(repository));
    if (removed > 0) log(`  removed ${removed} unreferenced blobs from ${repository}`);
  }
  await writeReleaseInfo(info);
  return info;
}

async function record(ctx: Context, published: Promise<PublishedImage & { written: boolean }>): Promise<PublishedImage> {
  const { written, ...image } = await published;
  ctx.log(`  ${written ? 'wrote' : 'up to date'} ${image.repository}:${image.tag} ${image.digest}`);
  ctx.images.push(image);
  return image;
}

function buildVersionBoot(ctx: Context, release: TalosRelease): Promise<string> {
  const { kernel, busybox } = ctx.inputs;
  const key = keyOf({ codeHash: ctx.codeHash, release, kernel: kernel.deb.id, busybox: busybox.deb.id });
  return ctx.steps.run(`boot-${release.tag}`, key, (dir) => buildBootFiles(dir, release, kernel, busybox.root));
}

async function publishImager(ctx: Context, release: TalosRelease, boot: string, grub: string): Promise<void> {
  const { kernel, systemdBoot } = ctx.inputs;
  const key = keyOf({ codeHash: ctx.codeHash, boot, kernel: kernel.deb.id, systemdBoot: systemdBoot.deb.id });
  const install = await ctx.steps.run(`imager-install-${release.tag}`, key, (dir) =>
    stageImagerInstall(dir, { vmlinuz: kernel.vmlinuz, initramfs: join(boot, BOOT_FILES.initramfs) }, systemdBoot),
  );
  await record(ctx, ctx.publisher.publish(imagerPlan(release, grub, install, ctx.codeHash)));
}

async function publishInstaller(ctx: Context, release: TalosRelease, boot: string): Promise<void> {
  const { kernel, busybox } = ctx.inputs;
  const base = await ctx.steps.run(`installer-base-${release.tag}`, keyOf({ codeHash: ctx.codeHash, release, busybox: busybox.deb.id }), (dir) =>
    stageInstallerBase(dir, busybox, release),
  );
  let artifacts: string | undefined;
  if (release.installerRepository === 'siderolabs/installer') {
    // Before the unified installer, the installer image carried the kernel and initramfs too.
    const key = keyOf({ codeHash: ctx.codeHash, boot, kernel: kernel.deb.id });
    artifacts = await ctx.steps.run(`installer-artifacts-${release.tag}`, key, (dir) =>
      stageInstallerArtifacts(dir, { vmlinuz: kernel.vmlinuz, initramfs: join(boot, BOOT_FILES.initramfs) }),
    );
  }
  await record(ctx, ctx.publisher.publish(installerPlan(release, base, artifacts, ctx.codeHash)));
}

async function publishExtensions(ctx: Context, release: TalosRelease, sources: ExtensionSource[]): Promise<ExtensionInfo[]> {
  const { kernel } = ctx.inputs;
  const baseModules = new Set(
    withDependencies(
      kernel,
      ROOTFS_MODULES.map((m) => findModule(kernel, m)),
    ),
  );
  const out: ExtensionInfo[] = [];
  for (const source of sources) {
    const key = keyOf({
      codeHash: ctx.codeHash,
      source: source.hash,
      release,
      kernel: source.kernelModules.length > 0 ? kernel.deb.id : null,
      baseModules: source.kernelModules.length > 0 ? [...baseModules] : null,
    });
    const tree = await ctx.steps.run(`extension-${source.name}-${release.tag}`, key, (dir) =>
      buildExtensionTree(dir, { source, release, kernel, baseModules }),
    );
    const tag = extensionTag(source, release);
    const image = await record(ctx, ctx.publisher.publish(extensionPlan(source.name, tag, tree, ctx.codeHash)));
    out.push({
      name: source.name,
      version: source.version,
      author: source.author,
      description: source.description,
      repository: image.repository,
      tag,
      digest: image.digest,
      tree,
    });
  }
  return out;
}

async function publishOverlay(ctx: Context): Promise<OverlayInfo> {
  const tree = await ctx.steps.run('overlay-devboard', keyOf({ codeHash: ctx.codeHash }), (dir) => stageOverlay(dir));
  const image = await record(ctx, ctx.publisher.publish(filesPlan(OVERLAY.repository, OVERLAY.tag, tree, ctx.codeHash)));
  return { name: OVERLAY.name, repository: OVERLAY.repository, tag: OVERLAY.tag, digest: image.digest };
}

async function publishCatalogs(ctx: Context, release: TalosRelease, extensions: ExtensionInfo[], overlays: OverlayInfo[]): Promise<void> {
  const entries: CatalogEntry[] = extensions.map((e) => ({ ...e, description: e.description.trim() }));
  const extensionFiles = { 'image-digests': imageDigests(entries), 'descriptions.yaml': descriptionsYaml(entries) };
  const extensionsTree = await ctx.steps.run(`catalog-extensions-${release.tag}`, keyOf({ codeHash: ctx.codeHash, extensionFiles }), (dir) =>
    stageFiles(dir, extensionFiles),
  );
  await record(ctx, ctx.publisher.publish(filesPlan('siderolabs/extensions', release.tag, extensionsTree, ctx.codeHash)));

  const overlayFiles = { 'overlays.yaml': overlaysYaml(overlays) };
  const overlaysTree = await ctx.steps.run(`catalog-overlays-${release.tag}`, keyOf({ codeHash: ctx.codeHash, overlayFiles }), (dir) =>
    stageFiles(dir, overlayFiles),
  );
  await record(ctx, ctx.publisher.publish(filesPlan('siderolabs/overlays', release.tag, overlaysTree, ctx.codeHash)));
}
