// Prometheus metrics, served on their own address: upstream's names where it
// has them, plus the build queue's depth, active builds and failures. With
// several HTTP processes, each counts what it answers and the owner's /metrics
// adds up every process's registry (prom-client's aggregation, as for a
// cluster).

import { createServer, type Server } from 'node:http';
import { AggregatorRegistry, Counter, Gauge, Histogram, type MetricObjectWithValues, type MetricValue, Registry, collectDefaultMetrics } from 'prom-client';
import type { PreparedAsset } from './assets/service.js';
import type { BuildQueue } from './jobs/queue.js';

/** One process's metrics, as prom-client's getMetricsAsJSON() gives them. */
export type ProcessMetrics = MetricObjectWithValues<MetricValue<string>>[];

export class Metrics {
  readonly registry = new Registry();
  private readonly labels = ['talos_version', 'output_kind', 'arch'] as const;
  readonly deliveredCached = new Counter({
    name: 'image_factory_assets_delivered_cached_total',
    help: 'Assets answered from the cache.',
    labelNames: this.labels,
    registers: [this.registry],
  });
  readonly built = new Counter({ name: 'image_factory_assets_built_total', help: 'Assets answered after a build.', labelNames: this.labels, registers: [this.registry] });
  readonly buildFailures = new Counter({ name: 'image_factory_build_failures_total', help: 'Asset requests whose build failed.', registers: [this.registry] });
  readonly buildLatency = new Histogram({
    name: 'image_factory_assets_build_latency_seconds',
    help: 'Time to answer an asset request that waited for a build.',
    buckets: [1, 10, 60, 180, 600],
    registers: [this.registry],
  });

  /** `queue`: the builds this process runs (a hit-serving HTTP process runs none). */
  constructor(queue?: BuildQueue) {
    collectDefaultMetrics({ register: this.registry });
    if (queue) this.queueGauges(queue);
  }

  private queueGauges(queue: BuildQueue): void {
    new Gauge({
      name: 'image_factory_build_queue_depth',
      help: 'Builds waiting for a worker.',
      registers: [this.registry],
      async collect() {
        this.set((await queue.counts()).waiting);
      },
    });
    new Gauge({
      name: 'image_factory_builds_active',
      help: 'Builds running.',
      registers: [this.registry],
      async collect() {
        this.set((await queue.counts()).active);
      },
    });
  }

  /** Counts an answered asset request: from the cache, or after a build. */
  delivered(prepared: PreparedAsset, cached: boolean, ms: number): void {
    const labels = { talos_version: prepared.spec.versionTag, output_kind: prepared.request.kind, arch: prepared.request.arch };
    (cached ? this.deliveredCached : this.built).inc(labels);
    if (!cached) this.buildLatency.observe(ms / 1000);
  }

  /** This process's metrics as prom-client's JSON, for the process that serves /metrics. */
  snapshot(): Promise<ProcessMetrics> {
    return this.registry.getMetricsAsJSON();
  }

  /** The text /metrics answers: this process's metrics, added to those `others()` gives. */
  private async text(others: () => Promise<ProcessMetrics[]>): Promise<string> {
    const more = await others();
    if (more.length === 0) return this.registry.metrics();
    return AggregatorRegistry.aggregate([await this.snapshot(), ...more]).metrics();
  }

  /** Serves /metrics on its own listener; `others`: the other HTTP processes' snapshots. */
  listen(host: string, port: number, others: () => Promise<ProcessMetrics[]> = async () => []): Promise<Server> {
    const server = createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end('404 page not found\n');
        return;
      }
      this.text(others)
        .then((text) => res.writeHead(200, { 'Content-Type': this.registry.contentType }).end(text))
        .catch(() => res.writeHead(500).end('collecting the metrics failed\n'));
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve(server));
    });
  }
}
