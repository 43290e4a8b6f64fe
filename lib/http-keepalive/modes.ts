// The keep-alive clients' modes and leaks, on their own so the command line can list them without
// loading undici.

export type ClientMode = 'faulty' | 'fixed';
export type Leak = 'dispatcher-per-request' | 'unconsumed-body';

export const CLIENT_MODES: ClientMode[] = ['faulty', 'fixed'];
export const LEAKS: Leak[] = ['dispatcher-per-request', 'unconsumed-body'];
