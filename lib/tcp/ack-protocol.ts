// The ack protocol, as the ack server speaks it and the load client expects it. Line framing: each
// `\n`-terminated line gets `ACK <line>\n`. Chunk framing (the prior art): `ACK from server`, 15 bytes
// with no newline, per read.

export type Framing = 'line' | 'chunk';
export const FRAMINGS: readonly Framing[] = ['line', 'chunk'];

export const PRIOR_ART_ACK_TEXT = 'ACK from server';
export const PRIOR_ART_ACK = Buffer.from(PRIOR_ART_ACK_TEXT);

/** The ack of one line (given as a byte string: one character per byte). */
export const ackOf = (line: string): string => `ACK ${line}\n`;

export const ERR_LINE_TOO_LONG = 'ERR line too long\n';
export const ERR_TOO_MANY_CONNECTIONS = 'ERR too many connections\n';
export const ERR_IDLE_TIMEOUT = 'ERR idle timeout\n';
