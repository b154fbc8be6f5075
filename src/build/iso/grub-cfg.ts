// grub.cfg of a Talos ISO (pkg/imager/iso/grub.cfg upstream): boot the
// kernel and initramfs under /boot with the escaped command line, after 3
// seconds, and from 1.4 a second entry that wipes the system disk.

import { grubQuote } from '../grub/quote.js';

export interface IsoGrubConfigInput {
  cmdline: string;
  resetEntry: boolean;
}

function entry(title: string, cmdline: string): string {
  return [
    `menuentry "${title}" {`,
    '\tset gfxmode=auto',
    '\tset gfxpayload=text',
    `\tlinux /boot/vmlinuz ${cmdline}`,
    '\tinitrd /boot/initramfs.xz',
    '}',
    '',
  ].join('\n');
}

export function isoGrubConfig(input: IsoGrubConfigInput): string {
  const cmdline = grubQuote(input.cmdline);
  const head = ['set default=0', 'set timeout=3', '', 'insmod all_video', '', 'terminal_input console', 'terminal_output console', '', ''].join('\n');
  const reset = input.resetEntry ? `\n${entry('Reset Talos installation', `${cmdline} talos.experimental.wipe=system`)}` : '\n';
  return head + entry('Talos ISO', cmdline) + reset;
}
