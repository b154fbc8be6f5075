// npm run dev-release [-- --out <dir>] [--versions v1.7.6,v1.12.0] [--push host:port]

import { Command } from 'commander';
import { DEFAULT_OUT, DEFAULT_VERSIONS, buildDevRelease } from './build.js';
import { pushDevRelease } from './push.js';

const program = new Command()
  .name('dev-release')
  .description('Build the development release (a Talos-shaped release made from Debian packages) as OCI layouts')
  .option('--out <dir>', 'output directory', DEFAULT_OUT)
  .option('--versions <list>', 'comma-separated Talos versions', DEFAULT_VERSIONS.join(','))
  .option('--push <host:port>', 'also push every image to this registry (plain http)')
  .option('-q, --quiet', 'print only the summary')
  .parse();

const options = program.opts<{ out: string; versions: string; push?: string; quiet?: boolean }>();
const log = options.quiet ? () => undefined : (message: string) => console.log(message);
const started = Date.now();
try {
  const info = await buildDevRelease({
    out: options.out,
    versions: options.versions.split(',').map((v) => v.trim()).filter(Boolean),
    log,
  });
  if (options.push) {
    log(`pushing to ${options.push}`);
    await pushDevRelease(info, options.push, log);
  }
  console.log(
    `development release ${info.versions.join(', ')} (kernels ${Object.values(info.arches).map((a) => a.kernel.release).join(', ')}): ${info.images.length} images in ${info.layoutDir}` +
      ` (${((Date.now() - started) / 1000).toFixed(1)} s)`,
  );
} catch (error) {
  console.error(`dev-release: ${(error as Error).message}`);
  process.exitCode = 1;
}
