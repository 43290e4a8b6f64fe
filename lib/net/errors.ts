// Classifying socket failures by code, so runs can count them instead of crashing on them,
// and telling people which operating-system limit a code points at.
import type { ErrorCounts } from './types.ts';

/** The stable code of a socket error: the errno code when Node gives one, else a name. */
export function errorCode(error: unknown): string {
  if (error && typeof error === 'object') {
    const { code, name } = error as { code?: unknown; name?: unknown };
    if (typeof code === 'string' && code) return code;
    if (name === 'AbortError') return 'ABORTED';
    if (name === 'TimeoutError') return 'ETIMEDOUT';
  }
  return 'EUNKNOWN';
}

const LIMIT_HINTS: Record<string, string> = {
  EMFILE: 'the process ran out of file descriptors: raise `ulimit -n` (and the hard limit in /etc/security/limits.conf) or spread the work over --workers processes',
  ENFILE: 'the system ran out of file descriptors: raise fs.file-max (sysctl -w fs.file-max=N)',
  EADDRNOTAVAIL: 'no free local port for this source address: widen net.ipv4.ip_local_port_range, spread over --source-ips 127.0.0.1-127.0.0.50, or wait for TIME_WAIT sockets to expire (60 s)',
  EADDRINUSE: 'the address is already in use: pick another --port (0 picks a free one)',
  ECONNREFUSED: 'nothing listens there, or its accept backlog is full',
};

/** A sentence on which limit an error code means and how to raise it, if it is one of those. */
export function limitHint(code: string): string | undefined {
  return LIMIT_HINTS[code];
}

/** Counts errors by code and keeps the first few messages, for the result JSON. */
export class ErrorTally {
  readonly counts: ErrorCounts = {};
  readonly samples: string[] = [];
  constructor(private readonly keepSamples = 5) {}

  add(error: unknown, context?: string): string {
    const code = errorCode(error);
    this.counts[code] = (this.counts[code] ?? 0) + 1;
    if (this.samples.length < this.keepSamples) {
      const message = error instanceof Error ? error.message : String(error);
      this.samples.push(context ? `${context}: ${message}` : message);
    }
    return code;
  }

  get total(): number {
    return Object.values(this.counts).reduce((sum, n) => sum + n, 0);
  }
}
