// The target switch: each spec family runs against the implementation in lib/ unless an external
// target is named, e.g. CONNLAB_TARGET_ACK=127.0.0.1:5000. Specs that need the implementation's own
// gauges or options cannot judge an external target; they are skipped with the reason.
import { parseHostPort } from '../../lib/net/units.ts';
import { announceSkip } from './skip.ts';

export interface ExternalTarget {
  host: string;
  port: number;
  variable: string;
}

/** The external target named for a family (ACK, BALANCER, POOL, PRIME, HTTP, CAPACITY), if any. */
export function externalTarget(family: string): ExternalTarget | undefined {
  const variable = `CONNLAB_TARGET_${family.toUpperCase()}`;
  const value = process.env[variable];
  if (!value) return undefined;
  return { ...parseHostPort(value), variable };
}

/** Why a lib-only spec is skipped when the family has an external target. */
export function libOnlyReason(family: string, why: string): string | undefined {
  const target = externalTarget(family);
  return announceSkip(target ? `skipped against ${target.variable}=${target.host}:${target.port}: ${why}` : undefined);
}
