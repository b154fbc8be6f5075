// The OVF descriptor (DMTF OVF 1.x envelope with VMware extensions) of a
// one-disk VM, as the Talos imager's vmware OVA carries it: one stream-
// optimized VMDK file reference, its disk with the capacity in MiB, one
// network, hardware family vmx-15 with CPUs, memory, a VirtualSCSI controller
// holding the disk, a VmxNet3 NIC, video and VMCI, optional product
// properties (delivered through the guestInfo transport), VMware tool
// settings and extra configuration. Element order follows the OVF schema.

import { DiskFormatError } from './disk/errors.js';

export interface OvfProperty {
  key: string;
  label: string;
  description: string;
  /** default "string" */
  type?: string;
  /** default "" */
  value?: string;
  /** default true */
  userConfigurable?: boolean;
}

export interface OvfOptions {
  /** VM name and system identifier. */
  name: string;
  vmdkFileName: string;
  vmdkSize: number;
  /** Disk capacity in bytes; written in MiB (rounded down, as upstream). */
  capacityBytes: number;
  /** default 2 */
  cpus?: number;
  /** default 2048 */
  memoryMiB?: number;
  /** default "vmx-15" */
  hardwareVersion?: string;
  /** vmw:osType; default "other3xLinux64Guest" (CIM OS id 101, "Linux 64-bit"). */
  osType?: string;
  osId?: number;
  /** default "VM Network" */
  network?: string;
  /** ProductSection info and properties; none when absent. */
  product?: { info: string; properties: OvfProperty[] };
  /** vmw:Config entries of the hardware section; default the VMware tools settings upstream uses. */
  vmwConfig?: Record<string, string>;
  /** vmw:ExtraConfig entries; default disk.EnableUUID=true. */
  extraConfig?: Record<string, string>;
}

export const DEFAULT_VMW_CONFIG: Readonly<Record<string, string>> = {
  'tools.syncTimeWithHost': 'false',
  'tools.afterPowerOn': 'true',
  'tools.afterResume': 'true',
  'tools.beforeGuestShutdown': 'true',
  'tools.beforeGuestStandby': 'true',
  'tools.toolsUpgradePolicy': 'manual',
  'powerOpInfo.suspendType': 'soft',
};

function xml(text: string | number | boolean): string {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

function item(fields: Array<[string, string | number | boolean]>, attributes = ''): string[] {
  return [`      <Item${attributes}>`, ...fields.map(([k, v]) => `        <rasd:${k}>${xml(v)}</rasd:${k}>`), '      </Item>'];
}

function vmwEntries(tag: string, entries: Record<string, string>, indent: string): string[] {
  return Object.entries(entries).map(([k, v]) => `${indent}<vmw:${tag} ovf:required="false" vmw:key="${xml(k)}" vmw:value="${xml(v)}"/>`);
}

export function renderOvf(o: OvfOptions): string {
  if (!Number.isSafeInteger(o.vmdkSize) || o.vmdkSize < 0) throw new DiskFormatError(`ovf: bad VMDK size ${o.vmdkSize}`);
  const cpus = o.cpus ?? 2;
  const memory = o.memoryMiB ?? 2048;
  const network = o.network ?? 'VM Network';
  const properties = o.product?.properties ?? [];
  const transport = properties.length > 0 ? ' ovf:transport="com.vmware.guestInfo"' : '';
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
    '  <References>',
    `    <File ovf:href="${xml(o.vmdkFileName)}" ovf:id="file1" ovf:size="${o.vmdkSize}"/>`,
    '  </References>',
    '  <DiskSection>',
    '    <Info>Virtual disk information</Info>',
    `    <Disk ovf:capacity="${Math.floor(o.capacityBytes / 2 ** 20)}" ovf:capacityAllocationUnits="byte * 2^20" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>`,
    '  </DiskSection>',
    '  <NetworkSection>',
    '    <Info>The list of logical networks</Info>',
    `    <Network ovf:name="${xml(network)}">`,
    `      <Description>The ${xml(network)} network</Description>`,
    '    </Network>',
    '  </NetworkSection>',
    '  <VirtualSystem ovf:id="vm">',
    '    <Info>A virtual machine</Info>',
    `    <Name>${xml(o.name)}</Name>`,
  ];
  if (o.product) {
    lines.push('    <ProductSection ovf:required="false">', `      <Info>${xml(o.product.info)}</Info>`);
    for (const p of properties) {
      lines.push(
        `      <Property ovf:key="${xml(p.key)}" ovf:type="${xml(p.type ?? 'string')}" ovf:userConfigurable="${p.userConfigurable ?? true}" ovf:value="${xml(p.value ?? '')}">`,
        `        <Label>${xml(p.label)}</Label>`,
        `        <Description>${xml(p.description)}</Description>`,
        '      </Property>',
      );
    }
    lines.push('    </ProductSection>');
  }
  lines.push(
    `    <OperatingSystemSection ovf:id="${o.osId ?? 101}" vmw:osType="${xml(o.osType ?? 'other3xLinux64Guest')}">`,
    '      <Info>The kind of installed guest operating system</Info>',
    '    </OperatingSystemSection>',
    `    <VirtualHardwareSection${transport}>`,
    '      <Info>Virtual hardware requirements</Info>',
    '      <System>',
    '        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>',
    '        <vssd:InstanceID>0</vssd:InstanceID>',
    `        <vssd:VirtualSystemIdentifier>${xml(o.name)}</vssd:VirtualSystemIdentifier>`,
    `        <vssd:VirtualSystemType>${xml(o.hardwareVersion ?? 'vmx-15')}</vssd:VirtualSystemType>`,
    '      </System>',
    ...item([
      ['AllocationUnits', 'hertz * 10^6'],
      ['Description', 'Number of Virtual CPUs'],
      ['ElementName', `${cpus} virtual CPU(s)`],
      ['InstanceID', 1],
      ['ResourceType', 3],
      ['VirtualQuantity', cpus],
    ]),
    ...item([
      ['AllocationUnits', 'byte * 2^20'],
      ['Description', 'Memory Size'],
      ['ElementName', `${memory}MB of memory`],
      ['InstanceID', 2],
      ['ResourceType', 4],
      ['VirtualQuantity', memory],
    ]),
    ...item([
      ['Address', 0],
      ['Description', 'SCSI Controller'],
      ['ElementName', 'scsiController0'],
      ['InstanceID', 3],
      ['ResourceSubType', 'VirtualSCSI'],
      ['ResourceType', 6],
    ]),
    ...item([
      ['AddressOnParent', 0],
      ['ElementName', 'disk0'],
      ['HostResource', 'ovf:/disk/vmdisk1'],
      ['InstanceID', 4],
      ['Parent', 3],
      ['ResourceType', 17],
    ]),
    '      <Item>',
    '        <rasd:AddressOnParent>2</rasd:AddressOnParent>',
    '        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>',
    `        <rasd:Connection>${xml(network)}</rasd:Connection>`,
    `        <rasd:Description>VmxNet3 ethernet adapter on ${xml(`"${network}"`)}</rasd:Description>`,
    '        <rasd:ElementName>ethernet0</rasd:ElementName>',
    '        <rasd:InstanceID>5</rasd:InstanceID>',
    '        <rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>',
    '        <rasd:ResourceType>10</rasd:ResourceType>',
    ...vmwEntries('Config', { 'slotInfo.pciSlotNumber': '32', wakeOnLanEnabled: 'false', 'connectable.allowGuestControl': 'false' }, '        '),
    '      </Item>',
    ...item(
      [
        ['AutomaticAllocation', false],
        ['ElementName', 'video'],
        ['InstanceID', 6],
        ['ResourceType', 24],
      ],
      ' ovf:required="false"',
    ),
    ...item(
      [
        ['AutomaticAllocation', false],
        ['ElementName', 'vmci'],
        ['InstanceID', 7],
        ['ResourceSubType', 'vmware.vmci'],
        ['ResourceType', 1],
      ],
      ' ovf:required="false"',
    ),
    ...vmwEntries('Config', o.vmwConfig ?? DEFAULT_VMW_CONFIG, '      '),
    ...vmwEntries('ExtraConfig', o.extraConfig ?? { 'disk.EnableUUID': 'true' }, '      '),
    '    </VirtualHardwareSection>',
    '  </VirtualSystem>',
    '</Envelope>',
    '',
  );
  return lines.join('\n');
}
