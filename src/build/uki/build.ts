// A Talos UKI for one output: systemd-stub with the release's kernel, the
// rebuilt initramfs and the output's command line, plus the extra profile the
// imager adds for that kind of output (reset for ISOs, reset-maintenance for
// disk images and installers).

import type { Writable } from 'node:stream';
import { assembleUki } from '../../formats/pe/index.js';
import type { OutputKind } from '../../talos/kernel-args.js';
import { extraUkiProfiles, talosUkiSections } from './sections.js';

export interface UkiBuildInput {
  /** The Talos version as tagged (e.g. "v1.12.0"). */
  version: string;
  /** The output the UKI is for: decides the extra profile. */
  kind: OutputKind;
  systemdStub: string;
  kernel: string;
  initramfs: string;
  cmdline: string;
  /** SOURCE_DATE_EPOCH: the PE timestamp. */
  sourceDateEpoch: number;
  /** Stops the writing when aborted. */
  signal?: AbortSignal;
}

export async function buildTalosUki(input: UkiBuildInput, out: string | Writable): Promise<void> {
  const sections = await talosUkiSections({
    version: input.version,
    kernel: input.kernel,
    initrd: input.initramfs,
    cmdline: input.cmdline,
    profiles: extraUkiProfiles(input.kind, input.cmdline),
  });
  await assembleUki({ stub: input.systemdStub, sections, timestamp: input.sourceDateEpoch }, out, input.signal);
}
