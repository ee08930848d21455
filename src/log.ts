// Logging: one pino root logger; subsystems take child loggers carrying their ids.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string): Logger {
  // Logs go to stderr so that stdout carries only the lines operators and tests read.
  return pino({ level, base: undefined }, pino.destination(2));
}
