// The schematic: its fields, in the order and with the omitempty rules of
// upstream's Go struct, because that order and those rules are what the
// canonical bytes (and so every schematic ID) are made of.

import type { GoType } from './goyaml/types.js';
import type { GoStringMap } from './goyaml/values.js';

export const BOOTLOADERS = ['none', 'dual-boot', 'sd-boot', 'grub'] as const;
export type Bootloader = (typeof BOOTLOADERS)[number];

const stringList: GoType = { kind: 'slice', elem: { kind: 'string' } };

export const SCHEMATIC_TYPE: GoType = {
  kind: 'struct',
  name: 'schematic.Schematic',
  fields: [
    { key: 'owner', omitEmpty: true, type: { kind: 'string' } },
    {
      key: 'overlay',
      omitEmpty: true,
      type: {
        kind: 'struct',
        name: 'schematic.Overlay',
        fields: [
          { key: 'image', omitEmpty: false, type: { kind: 'string' } },
          { key: 'name', omitEmpty: false, type: { kind: 'string' } },
          { key: 'options', omitEmpty: true, type: { kind: 'stringMap' } },
        ],
      },
    },
    {
      key: 'customization',
      omitEmpty: false,
      type: {
        kind: 'struct',
        name: 'schematic.Customization',
        fields: [
          { key: 'embeddedMachineConfiguration', omitEmpty: true, type: { kind: 'string' } },
          { key: 'extraKernelArgs', omitEmpty: true, type: stringList },
          {
            key: 'meta',
            omitEmpty: true,
            type: {
              kind: 'slice',
              elem: {
                kind: 'struct',
                name: 'schematic.MetaValue',
                fields: [
                  { key: 'key', omitEmpty: false, type: { kind: 'uint', name: 'uint8' } },
                  { key: 'value', omitEmpty: false, type: { kind: 'string' } },
                ],
              },
            },
          },
          {
            key: 'systemExtensions',
            omitEmpty: true,
            type: {
              kind: 'struct',
              name: 'schematic.SystemExtensions',
              fields: [{ key: 'officialExtensions', omitEmpty: true, type: stringList }],
            },
          },
          {
            key: 'bootloader',
            omitEmpty: true,
            type: { kind: 'textEnum', name: 'imageropts.BootloaderKind', names: BOOTLOADERS },
          },
          {
            key: 'secureboot',
            omitEmpty: true,
            type: {
              kind: 'struct',
              name: 'schematic.SecureBootCustomization',
              fields: [
                { key: 'enrollKeys', omitEmpty: true, type: { kind: 'string' } },
                { key: 'includeWellKnownCertificates', omitEmpty: true, type: { kind: 'bool' } },
              ],
            },
          },
          {
            key: 'diskImage',
            omitEmpty: true,
            type: {
              kind: 'struct',
              name: 'schematic.DiskImageCustomization',
              fields: [{ key: 'sectorSize', omitEmpty: true, type: { kind: 'uint', name: 'uint' } }],
            },
          },
        ],
      },
    },
  ],
};

/** The decoded schematic; field names are the yaml keys, zero values stand for "unset". */
export interface Schematic {
  owner: string;
  overlay: {
    image: string;
    name: string;
    /** Free-form overlay options, kept with Go's dynamic types so they re-encode exactly. */
    options: GoStringMap | null;
  };
  customization: {
    embeddedMachineConfiguration: string;
    extraKernelArgs: string[] | null;
    meta: Array<{ key: bigint; value: string }> | null;
    systemExtensions: { officialExtensions: string[] | null };
    /** Index into BOOTLOADERS; 0 = none (unset). */
    bootloader: number;
    secureboot: { enrollKeys: string; includeWellKnownCertificates: boolean };
    diskImage: { sectorSize: bigint };
  };
}
