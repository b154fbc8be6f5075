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
import { type PerArch, everyArch, extensionPlan, filesPlan, imagerPlan, installerPlan } from './images.js';
import { ARCHES, type Arch, type ArchInputs, type DebianInputs, fetchDebianInputs } from './inputs.js';
import { findModule, withDependencies } from './kernel.js';
import { OVERLAY, stageFiles, stageGrub, stageImagerInstall, stageInstallerArtifacts, stageInstallerBase, stageOverlay } from './layers.js';
import { withBuildLock } from './lock.js';
import { pruneLayout } from './prune.js';
import { LayoutPublisher, type PublishedImage } from './publish.js';
import { signRelease } from './sign.js';
import { type ArchRelease, type DevReleaseInfo, type ExtensionInfo, type ImageInfo, type OverlayInfo, writeReleaseInfo } from './release-info.js';
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
  for (const arch of ARCHES) log(`kernel ${inputs.arch[arch].kernel.release} (${inputs.arch[arch].kernel.deb.id})`);
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

  const grubEfi = ARCHES.map((arch) => inputs.arch[arch]);
  const grub = await ctx.steps.run('imager-grub', keyOf({ codeHash, pc: inputs.grubPc.deb.id, efi: grubEfi.map((e) => e.grubEfi.deb.id) }), (dir) =>
    stageGrub(dir, inputs.grubPc, grubEfi),
  );
  const overlay = await publishOverlay(ctx);

  const info: DevReleaseInfo = {
    codeHash,
    outDir: out,
    layoutDir: ctx.publisher.layoutRoot,
    grubDir: join(grub, 'usr', 'lib', 'grub'),
    versions: releases.map((r) => r.tag),
    kernel: { release: inputs.arch.amd64.kernel.release, package: inputs.arch.amd64.kernel.deb.id },
    boot: {},
    arches: everyArchRelease(inputs),
    extensions: {},
    overlays: {},
    images: ctx.images,
    signingPublicKey: '',
  };
  for (const release of releases) {
    log(`${release.tag}: boot files, imager, installer, extensions, catalogs`);
    const boot = {} as PerArch<string>;
    for (const arch of ARCHES) boot[arch] = await buildVersionBoot(ctx, release, inputs.arch[arch]);
    const install = await publishImager(ctx, release, boot, grub);
    for (const arch of ARCHES) {
      const installDir = join(install[arch], 'usr', 'install', arch);
      info.arches[arch].boot[release.tag] = {
        kernel: inputs.arch[arch].kernel.vmlinuz,
        initramfs: join(boot[arch], BOOT_FILES.initramfs),
        rootfsSqsh: join(boot[arch], BOOT_FILES.rootfs),
        compression: release.zstd ? 'zstd' : 'xz',
        modulesPath: release.modulesPath,
        firmwarePath: release.firmwarePath,
        systemdBoot: join(installDir, 'systemd-boot.efi'),
        systemdStub: join(installDir, 'systemd-stub.efi'),
      };
    }
    info.boot[release.tag] = info.arches.amd64.boot[release.tag]!;
    await publishInstaller(ctx, release, boot);
    const extensions = await publishExtensions(ctx, release, sources);
    info.extensions[release.tag] = extensions.map(({ trees, ...e }) => ({ ...e, tree: trees.amd64 }));
    for (const arch of ARCHES) info.arches[arch].extensionTrees[release.tag] = extensions.map((e) => ({ name: e.name, tree: e.trees[arch] }));
    info.overlays[release.tag] = [overlay];
    await publishCatalogs(ctx, release, info.extensions[release.tag]!, [overlay]);
  }
  const extensionRepositories = new Set(Object.values(info.extensions).flatMap((list) => list.map((e) => e.repository)));
  info.signingPublicKey = await signRelease(out, ctx.publisher.layoutRoot, ctx.images, extensionRepositories, log);
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

function everyArchRelease(inputs: DebianInputs): Record<Arch, ArchRelease> {
  const out = {} as Record<Arch, ArchRelease>;
  for (const arch of ARCHES) {
    const { kernel } = inputs.arch[arch];
    out[arch] = { kernel: { release: kernel.release, package: kernel.deb.id }, boot: {}, extensionTrees: {} };
  }
  return out;
}

function buildVersionBoot(ctx: Context, release: TalosRelease, inputs: ArchInputs): Promise<string> {
  const { kernel, busybox } = inputs;
  const applets = ctx.inputs.busyboxApplets;
  const key = keyOf({ codeHash: ctx.codeHash, release, kernel: kernel.deb.id, busybox: busybox.deb.id, applets });
  return ctx.steps.run(`boot-${release.tag}-${inputs.arch}`, key, (dir) => buildBootFiles(dir, release, kernel, busybox.root, applets));
}

function bootArtifacts(inputs: ArchInputs, boot: string): { vmlinuz: string; initramfs: string } {
  return { vmlinuz: inputs.kernel.vmlinuz, initramfs: join(boot, BOOT_FILES.initramfs) };
}

/** Publishes the imager image; returns each architecture's staged tree (usr/install/<arch>/ under it). */
async function publishImager(ctx: Context, release: TalosRelease, boot: PerArch<string>, grub: string): Promise<PerArch<string>> {
  const install = {} as PerArch<string>;
  for (const arch of ARCHES) {
    const inputs = ctx.inputs.arch[arch];
    const key = keyOf({ codeHash: ctx.codeHash, boot: boot[arch], kernel: inputs.kernel.deb.id, systemdBoot: inputs.systemdBoot.deb.id });
    install[arch] = await ctx.steps.run(`imager-install-${release.tag}-${arch}`, key, (dir) => stageImagerInstall(dir, inputs, bootArtifacts(inputs, boot[arch])));
  }
  await record(ctx, ctx.publisher.publish(imagerPlan(release, grub, install, ctx.codeHash)));
  return install;
}

async function publishInstaller(ctx: Context, release: TalosRelease, boot: PerArch<string>): Promise<void> {
  const base = {} as PerArch<string>;
  const artifacts = {} as PerArch<string>;
  const applets = ctx.inputs.busyboxApplets;
  for (const arch of ARCHES) {
    const inputs = ctx.inputs.arch[arch];
    const { kernel, busybox } = inputs;
    base[arch] = await ctx.steps.run(`installer-base-${release.tag}-${arch}`, keyOf({ codeHash: ctx.codeHash, release, busybox: busybox.deb.id, applets }), (dir) =>
      stageInstallerBase(dir, busybox, applets, release),
    );
    if (release.installerRepository === 'siderolabs/installer') {
      // Before the unified installer, the installer image carried the kernel and initramfs too.
      const key = keyOf({ codeHash: ctx.codeHash, boot: boot[arch], kernel: kernel.deb.id });
      artifacts[arch] = await ctx.steps.run(`installer-artifacts-${release.tag}-${arch}`, key, (dir) =>
        stageInstallerArtifacts(dir, arch, bootArtifacts(inputs, boot[arch])),
      );
    }
  }
  const hasArtifacts = release.installerRepository === 'siderolabs/installer';
  await record(ctx, ctx.publisher.publish(installerPlan(release, base, hasArtifacts ? artifacts : undefined, ctx.codeHash)));
}

/**
 * The sample extensions, one image index each. An extension with kernel
 * modules has a tree per architecture (modules of that architecture's
 * kernel); the others have one tree for both.
 */
async function publishExtensions(ctx: Context, release: TalosRelease, sources: ExtensionSource[]): Promise<Array<Omit<ExtensionInfo, 'tree'> & { trees: PerArch<string> }>> {
  const out: Array<Omit<ExtensionInfo, 'tree'> & { trees: PerArch<string> }> = [];
  for (const source of sources) {
    let trees: PerArch<string>;
    if (source.kernelModules.length === 0) {
      const key = keyOf({ codeHash: ctx.codeHash, source: source.hash, release });
      const kernel = ctx.inputs.arch.amd64.kernel; // not read: the source names no modules
      trees = everyArch(
        await ctx.steps.run(`extension-${source.name}-${release.tag}`, key, (dir) => buildExtensionTree(dir, { source, release, kernel, baseModules: new Set() })),
      );
    } else {
      trees = {} as PerArch<string>;
      for (const arch of ARCHES) {
        const { kernel } = ctx.inputs.arch[arch];
        const baseModules = new Set(
          withDependencies(
            kernel,
            ROOTFS_MODULES.map((m) => findModule(kernel, m)),
          ),
        );
        const key = keyOf({ codeHash: ctx.codeHash, source: source.hash, release, kernel: kernel.deb.id, baseModules: [...baseModules] });
        trees[arch] = await ctx.steps.run(`extension-${source.name}-${release.tag}-${arch}`, key, (dir) =>
          buildExtensionTree(dir, { source, release, kernel, baseModules }),
        );
      }
    }
    const tag = extensionTag(source, release);
    const image = await record(ctx, ctx.publisher.publish(extensionPlan(source.name, tag, trees, ctx.codeHash)));
    out.push({
      name: source.name,
      version: source.version,
      author: source.author,
      description: source.description,
      repository: image.repository,
      tag,
      digest: image.digest,
      trees,
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
