// A real pino logger (with the service's redaction) writing into an array, so tests can read every log line.
import { createLogger, type Logger } from '../../src/log.js';

export function captureLog(level = 'debug'): { log: Logger; lines: string[]; text(): string } {
  const lines: string[] = [];
  const log = createLogger({ level, destination: { write: (s: string) => void lines.push(s) } });
  return { log, lines, text: () => lines.join('') };
}
