// The boot report's grammar (devrelease/README.md) and its parser. init and
// /usr/bin/report print one record per line on the serial console:
//
//   FACTORY-REPORT <kind>[ <key>=<value>]...
//
// Values are percent-encoded (%XX) for `%`, bytes below 0x21 (spaces, tabs,
// newlines) and DEL, so a record is split on spaces and each field on its
// first `=`. Anything before the prefix on a line (console noise) is ignored.

export const REPORT_PREFIX = 'FACTORY-REPORT ';

export interface ReportRecord {
  kind: string;
  fields: Record<string, string>;
}

export interface ReportLayer {
  index: number;
  image: string;
  name: string;
  version: string;
}

export interface ReportModule {
  layer: number;
  name: string;
  path: string;
  modprobe: 'ok' | 'failed';
  /** /sys/module/<name> exists after the modprobe. */
  sysfs: boolean;
  /** modprobe's output. */
  detail: string;
}

export interface BootReport {
  records: ReportRecord[];
  /** A `begin` record was seen. */
  begun: boolean;
  /** An `end` record was seen. */
  ended: boolean;
  /** From the `end` record. */
  status?: 'ok' | 'failed';
  talos?: string;
  /** `uname -r`. */
  kernel?: string;
  /** Where the new root keeps the running kernel's modules (`/usr/lib/modules/<release>`). */
  modulesDir?: string;
  os?: { name: string; version: string };
  cmdline?: string;
  root?: { fstype: string; options: string };
  layers: ReportLayer[];
  /** Regular files layers carry under /usr/local, as seen through the merged root (size undefined: missing there). */
  files: Array<{ layer: number; path: string; size: number | undefined }>;
  markers: Array<{ layer: number; path: string; content: string }>;
  modules: ReportModule[];
  firmware: Array<{ path: string; size: number }>;
  microcode: Array<{ name: string; size: number }>;
  metaRaw: Array<{ encoding: 'plain' | 'gzip'; payload: string }>;
  meta: Array<{ key: string; value: string }>;
  /** The META partition of the boot disk, when there is one. */
  metaPartition?: { device: string; adv: 'talos' | 'none'; checksum?: 'ok' | 'bad' };
  /** The tags of that partition's talos ADV, in stored order. */
  metaDisk: Array<{ key: string; value: string }>;
  errors: Array<{ stage: string; detail: string }>;
  /** Kernel log lines init dumps after a failure. */
  log: string[];
}

/** Undoes the percent-encoding (bytes, then UTF-8). */
export function decodeValue(value: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    if (value[i] === '%' && /^[0-9A-Fa-f]{2}$/.test(value.slice(i + 1, i + 3))) {
      bytes.push(parseInt(value.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(value[i]!, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

export function parseReportLine(line: string): ReportRecord | undefined {
  const at = line.indexOf(REPORT_PREFIX);
  if (at < 0) return undefined;
  const [kind, ...tokens] = line
    .slice(at + REPORT_PREFIX.length)
    .replace(/\r/g, '')
    .trim()
    .split(/ +/);
  if (!kind) return undefined;
  const fields: Record<string, string> = {};
  for (const token of tokens) {
    const eq = token.indexOf('=');
    if (eq > 0) fields[token.slice(0, eq)] = decodeValue(token.slice(eq + 1));
  }
  return { kind, fields };
}

function num(value: string | undefined): number {
  const n = Number(value);
  return Number.isFinite(n) ? n : NaN;
}

/** Reads every record out of console output. */
export function parseReport(consoleText: string): BootReport {
  const report: BootReport = {
    records: [],
    begun: false,
    ended: false,
    layers: [],
    files: [],
    markers: [],
    modules: [],
    firmware: [],
    microcode: [],
    metaRaw: [],
    meta: [],
    metaDisk: [],
    errors: [],
    log: [],
  };
  for (const line of consoleText.split('\n')) {
    const record = parseReportLine(line);
    if (!record) continue;
    report.records.push(record);
    const f = record.fields;
    switch (record.kind) {
      case 'begin':
        report.begun = true;
        report.talos = f.talos;
        report.kernel = f.kernel;
        break;
      case 'end':
        report.ended = true;
        report.status = f.status === 'ok' ? 'ok' : 'failed';
        break;
      case 'kernel':
        report.kernel = f.release ?? report.kernel;
        report.modulesDir = f.modules;
        break;
      case 'os':
        report.os = { name: f.name ?? '', version: f.version ?? '' };
        break;
      case 'cmdline':
        report.cmdline = f.value ?? '';
        break;
      case 'root':
        report.root = { fstype: f.fstype ?? '', options: f.options ?? '' };
        break;
      case 'layer':
        report.layers.push({ index: num(f.index), image: f.image ?? '', name: f.name ?? '', version: f.version ?? '' });
        break;
      case 'file':
        report.files.push({ layer: num(f.layer), path: f.path ?? '', size: f.size === 'missing' ? undefined : num(f.size) });
        break;
      case 'marker':
        report.markers.push({ layer: num(f.layer), path: f.path ?? '', content: f.content ?? '' });
        break;
      case 'module':
        report.modules.push({
          layer: num(f.layer),
          name: f.name ?? '',
          path: f.path ?? '',
          modprobe: f.modprobe === 'ok' ? 'ok' : 'failed',
          sysfs: f.sysfs === 'yes',
          detail: f.detail ?? '',
        });
        break;
      case 'firmware':
        report.firmware.push({ path: f.path ?? '', size: num(f.size) });
        break;
      case 'microcode':
        report.microcode.push({ name: f.name ?? '', size: num(f.size) });
        break;
      case 'meta-raw':
        report.metaRaw.push({ encoding: f.encoding === 'gzip' ? 'gzip' : 'plain', payload: f.payload ?? '' });
        break;
      case 'meta':
        report.meta.push({ key: f.key ?? '', value: f.value ?? '' });
        break;
      case 'meta-partition':
        report.metaPartition = {
          device: f.device ?? '',
          adv: f.adv === 'talos' ? 'talos' : 'none',
          ...(f.checksum !== undefined && { checksum: f.checksum === 'ok' ? 'ok' : 'bad' }),
        };
        break;
      case 'meta-disk':
        report.metaDisk.push({ key: f.key ?? '', value: f.value ?? '' });
        break;
      case 'error':
        report.errors.push({ stage: f.stage ?? '', detail: f.detail ?? '' });
        break;
      case 'log':
        report.log.push(f.line ?? '');
        break;
      default:
        break; // records added later are kept in `records`
    }
  }
  return report;
}
