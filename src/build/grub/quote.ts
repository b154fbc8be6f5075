// GRUB's configuration language treats \{}&$|;<>" specially; Talos escapes
// each with a backslash before putting a kernel command line into grub.cfg.

const SPECIAL = /[\\{}&$|;<>"]/g;

export function grubQuote(text: string): string {
  return text.replace(SPECIAL, (c) => `\\${c}`);
}
