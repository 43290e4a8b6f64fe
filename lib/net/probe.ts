// One TCP connect check: does something accept connections there, within a deadline? The balancer's
// active health checks, `connlab check`'s preflight and the spec harness all ask it the same way.
import net from 'node:net';
import { errorCode } from './errors.ts';

/** Resolves undefined when a connection to host:port was accepted within `timeoutMs`, else the error code. */
export function probe(host: string, port: number, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => finish('ETIMEDOUT'), timeoutMs);
    function finish(code: string | undefined): void {
      clearTimeout(timer);
      socket.destroy();
      resolve(code);
    }
    socket.once('connect', () => finish(undefined));
    socket.once('error', (error) => finish(errorCode(error)));
  });
}
