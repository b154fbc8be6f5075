// /extensions.yaml, the layer list Talos' init reads, written byte for byte as
// Talos' imager writes it (go-yaml v4 Encoder over its Config struct).

import { emitDocument } from '../../schematic/goyaml/emit.js';
import { represent } from '../../schematic/goyaml/represent.js';
import type { GoType } from '../../schematic/goyaml/types.js';
import type { ExtensionMetadata } from './manifest.js';

const str: GoType = { kind: 'string' };

const METADATA_TYPE: GoType = {
  kind: 'struct',
  name: 'extensions.Metadata',
  fields: [
    { key: 'name', omitEmpty: false, type: str },
    { key: 'version', omitEmpty: false, type: str },
    { key: 'author', omitEmpty: false, type: str },
    { key: 'description', omitEmpty: false, type: str },
    {
      key: 'compatibility',
      omitEmpty: false,
      type: {
        kind: 'struct',
        name: 'extensions.Compatibility',
        fields: [
          {
            key: 'talos',
            omitEmpty: false,
            type: { kind: 'struct', name: 'extensions.Constraint', fields: [{ key: 'version', omitEmpty: false, type: str }] },
          },
        ],
      },
    },
    { key: 'extraInfo', omitEmpty: true, type: str },
  ],
};

const CONFIG_TYPE: GoType = {
  kind: 'struct',
  name: 'extensions.Config',
  fields: [
    {
      key: 'layers',
      omitEmpty: false,
      type: {
        kind: 'slice',
        elem: {
          kind: 'struct',
          name: 'extensions.Layer',
          fields: [
            { key: 'image', omitEmpty: false, type: str },
            { key: 'metadata', omitEmpty: false, type: METADATA_TYPE },
          ],
        },
      },
    },
  ],
};

export interface ExtensionLayer {
  /** The squashfs file name in the initramfs, e.g. `0.sqsh`. */
  image: string;
  metadata: ExtensionMetadata;
}

export function renderExtensionsYaml(layers: readonly ExtensionLayer[]): string {
  return emitDocument(represent({ layers }, CONFIG_TYPE));
}
