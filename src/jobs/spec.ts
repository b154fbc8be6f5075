// A build as it travels through the queue (to this process or to a worker on
// another machine): plain data that names the asset completely, the schematic
// included, so a worker needs no shared schematic store. The queue knows only
// this and the Builder that runs one; what a build does is assets/' business.

export interface BuildSpec {
  key: string;
  canonical: string;
  versionTag: string;
  /** The asset file name as parsed (`initramfs-amd64.xz`, ...). */
  path: string;
  /** How an installer is packaged (`oci-archive` for the registry frontend). */
  format?: 'oci-archive';
}

export type ProgressReporter = (percent: number, stage: string) => void;

export interface BuildControl {
  /** Aborted when the build must stop (timeout, lost lock, shutdown); the build then rejects soon. */
  signal: AbortSignal;
  progress: ProgressReporter;
}

/** Runs one build and stores its result in the cache; rejects when it failed or was stopped. */
export type Builder = (spec: BuildSpec, control: BuildControl) => Promise<void>;
