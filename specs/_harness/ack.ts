// Starts the ack server under test: lib/'s own on a free loopback port, or the external target named
// by CONNLAB_TARGET_ACK (which must speak line framing with its defaults).
import { startAckServer, type AckServerOptions, type AckServerStats } from '../../lib/tcp/ack-server.ts';
import { externalTarget } from './targets.ts';

export interface AckTarget {
  host: string;
  port: number;
  /** The server's own gauges; undefined for an external target. */
  stats?: () => AckServerStats;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startAckTarget(options: AckServerOptions = {}): Promise<AckTarget> {
  const external = externalTarget('ack');
  if (external) {
    const noop = async (): Promise<void> => {};
    return { host: external.host, port: external.port, close: noop, [Symbol.asyncDispose]: noop };
  }
  const server = await startAckServer({ port: 0, ...options });
  return { host: server.host, port: server.port, stats: server.stats, close: () => server.close(), [Symbol.asyncDispose]: () => server.close() };
}
