// The process logger. pino's default destination writes synchronously and,
// when stdout (a pipe, a terminal) cannot keep up, sleeps until it can: under
// download load that stalled the event loop of every request. An asynchronous
// destination queues the lines instead; pino flushes what is left on exit.

import { type Level, type Logger, pino } from 'pino';

export function createLogger(level: Level | 'silent'): Logger {
  return pino({ level }, pino.destination({ sync: false }));
}
