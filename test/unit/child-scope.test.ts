import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { trackChild, withChildScope } from '../../src/child-scope.js';

const sleeper = () => {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  trackChild(child);
  return child;
};

describe('child scope', () => {
  it('settles only once the children the work left running are killed and reaped', async () => {
    let pid = 0;
    // Started deep in the work's async chain, and not awaited by it.
    await withChildScope(async () => {
      await new Promise((r) => setTimeout(r, 10));
      pid = sleeper().pid!;
    });
    expect(pid).toBeGreaterThan(0);
    expect(existsSync(`/proc/${pid}`)).toBe(false); // not even a zombie
  });

  it('does the same when the work fails, and passes the failure on', async () => {
    let pid = 0;
    await expect(
      withChildScope(async () => {
        pid = sleeper().pid!;
        throw new Error('build failed');
      }),
    ).rejects.toThrow('build failed');
    expect(existsSync(`/proc/${pid}`)).toBe(false);
  });

  it('leaves alone the children started outside any scope, and those of other scopes', async () => {
    const outside = sleeper();
    let other: ReturnType<typeof sleeper> | undefined;
    let release!: () => void;
    const otherScope = withChildScope(async () => {
      other = sleeper();
      await new Promise<void>((r) => (release = r));
    });
    await withChildScope(async () => {
      await new Promise((r) => setTimeout(r, 10));
    });
    expect(outside.exitCode ?? outside.signalCode).toBeNull();
    expect(other!.exitCode ?? other!.signalCode).toBeNull();
    release();
    await otherScope;
    expect(other!.signalCode).toBe('SIGKILL');
    outside.kill('SIGKILL');
  });
});
