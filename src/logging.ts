// The process logger. pino's default destination writes synchronously and,
// when stdout (a pipe, a terminal) cannot keep up, sleeps until it can: under
// download load that stalled the event loop of every request. An asynchronous
// destination queues the lines instead; pino flushes what is left on exit.
// Each asynchronous write is a round trip through the thread pool, which cost
// a cached HEAD as much CPU as the rest of its answer (measured: 35-70 µs a
// request at 4,000 requests/s). So lines are written right after the event
// loop's turn that logged them, but at most once every BATCH_MS: a quiet
// process writes each line at once, a busy one writes a batch of them.

import { performance } from 'node:perf_hooks';
import { type Level, type Logger, pino } from 'pino';

/** Lines are also written whenever this many bytes wait. */
const BATCH_BYTES = 4096;
const BATCH_MS = 10;

export function createLogger(level: Level | 'silent'): Logger {
  const destination = pino.destination({ sync: false, minLength: BATCH_BYTES });
  let scheduled = false;
  let flushedAt = -BATCH_MS;
  // sonic-boom's own state (4.x): its flush() writes nothing while a write is under way, and what it
  // left behind (less than BATCH_BYTES) would then wait for the next line, however long that takes.
  const writing = (): boolean => (destination as unknown as { _writing: boolean })._writing;
  const flush = (): void => {
    if (writing()) {
      destination.once('drain', flush);
      return;
    }
    scheduled = false;
    flushedAt = performance.now();
    destination.flush();
  };
  const noteWrite = (line: string): string => {
    if (!scheduled) {
      scheduled = true;
      const wait = flushedAt + BATCH_MS - performance.now();
      if (wait > 0) setTimeout(flush, wait);
      else setImmediate(flush);
    }
    return line;
  };
  return pino({ level, hooks: { streamWrite: noteWrite } }, destination);
}
