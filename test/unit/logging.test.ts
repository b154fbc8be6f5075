import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');

describe('the log destination', () => {
  it('writes a line logged while a write is held up, once the write is done, with no further line to push it', async () => {
    // A line larger than the pipe holds, which this side does not read at first: the destination's write
    // is held up when the last line is logged, and nothing is logged after it.
    const script = `
      import { createLogger } from './src/logging.ts';
      const logger = createLogger('info');
      logger.info({ pad: 'x'.repeat(200000) }, 'large');
      setTimeout(() => logger.info('last line'), 200);
      setTimeout(() => {}, 10000);
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      child.stdout.pause();
      await new Promise((r) => setTimeout(r, 1500));
      const chunks: string[] = [];
      let tail = '';
      const seen = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 5000);
        child.stdout.on('data', (chunk: Buffer) => {
          chunks.push(chunk.toString());
          tail = (tail + chunks.at(-1)).slice(-300);
          if (tail.includes('"msg":"last line"')) {
            clearTimeout(timer);
            resolve(true);
          }
        });
        child.stdout.resume();
      });
      expect(seen).toBe(true);
      expect(chunks.join('')).toContain('"msg":"large"');
    } finally {
      child.kill('SIGKILL');
    }
  }, 30_000);
});
