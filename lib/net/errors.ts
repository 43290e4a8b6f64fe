// Classifying socket failures by code, so runs can count them instead of crashing on them (the tally
// itself is lib/results/tally.ts), and telling people which operating-system limit a code points at.

import { formatHostPort } from './units.ts';

/**
 * A dial's synchronous failure as the caller should count it. bind() says EADDRINUSE when the source
 * address has no free port left (or the one asked for is taken), connect() says EADDRNOTAVAIL when no
 * port is left for this destination: both mean "no local port", and are counted as EADDRNOTAVAIL.
 */
export function dialFailureCode(code: string | undefined): string {
  return code === 'EADDRINUSE' ? 'EADDRNOTAVAIL' : (code ?? 'EUNKNOWN');
}

/** The error a listen fails with: its message names the address and the code. */
export function listenError(host: string, port: number, code: string, cause?: unknown): Error {
  return Object.assign(new Error(`cannot listen on ${formatHostPort(host, port)}: ${code}`, { cause }), { code });
}

/** An error with a code, as the tallies count it: `coded('REPLY_TIMEOUT', 'no reply within 5000ms')`. */
export function coded(code: string | undefined, message: string): Error & { code: string | undefined } {
  return Object.assign(new Error(message), { code });
}

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
