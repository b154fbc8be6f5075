// The process logger. pino's default destination writes synchronously and,
// when stdout (a pipe, a terminal) cannot keep up, sleeps until it can: under
// download load that stalled the event loop of every request. An asynchronous
// destination queues the lines instead; pino flushes what is left on exit.
// Each asynchronous write is a round trip through the thread pool, which cost
// a cached HEAD as much CPU as the rest of its answer (measured: 35-70 µs a
// request), so lines are written in batches of a few KiB, and at least every
// FLUSH_MS when fewer come.

import { type Level, type Logger, pino } from 'pino';

const BATCH_BYTES = 4096;
const FLUSH_MS = 100;

export function createLogger(level: Level | 'silent'): Logger {
  const destination = pino.destination({ sync: false, minLength: BATCH_BYTES });
  let unflushed = false;
  setInterval(() => {
    if (!unflushed) return;
    unflushed = false;
    destination.flush();
  }, FLUSH_MS).unref();
  const noteWrite = (line: string): string => {
    unflushed = true;
    return line;
  };
  return pino({ level, hooks: { streamWrite: noteWrite } }, destination);
}
