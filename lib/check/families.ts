// The spec families `connlab check` can point at someone else's implementation: which spec files judge
// it, what the target must be (a server at HOST:PORT, or a client's command line), and the parameters it
// may declare, with the flags connlab's own servers take for the same promise. A spec that needs a
// parameter the target did not declare is skipped, saying which flag would let it run.

export type ParameterKind = 'size' | 'duration' | 'count' | 'ports' | 'text';

export interface Parameter {
  /** The flag, as connlab's own servers spell it: `--max-line`. */
  flag: string;
  kind: ParameterKind;
  /** What the target promises with it, for --help and skip reasons. */
  help: string;
}

export interface Family {
  name: string;
  summary: string;
  /** Spec files, relative to the package root. */
  files: string[];
  /** What is judged: a listening server (`--target HOST:PORT`) or a client's command (`--command`). */
  judges: 'server' | 'command';
  /** The family's name in CONNLAB_TARGET_<NAME> and CONNLAB_DECLARED_<NAME>. */
  env: string;
  parameters: Parameter[];
  /** How the target must be set up before the check, when it matters (the balancer's backends). */
  setup?: string;
}

const p = (flag: string, kind: ParameterKind, help: string): Parameter => ({ flag, kind, help });

export const FAMILIES: Family[] = [
  {
    name: 'ack',
    summary: 'a line-framed ack server: `ACK <line>` per line however TCP cuts the bytes, limits, slow readers, cleanup',
    files: ['specs/tcp/ack-server.spec.ts'],
    judges: 'server',
    env: 'ACK',
    parameters: [
      p('--max-line', 'size', 'the longest line it accepts; a longer one gets an error line and its connection closes'),
      p('--max-connections', 'count', 'the most connections it keeps at once; the next gets an error line and is closed'),
      p('--idle-timeout', 'duration', 'how long a silent connection is kept before it is closed with an error line'),
    ],
  },
  {
    name: 'pool',
    summary: 'an HTTP server with a bounded worker pool (the hello server): 200 `hello world`, workers, queue, 503, deadlines',
    files: ['specs/tcp/hello-server.spec.ts', 'specs/tcp/pool.spec.ts'],
    judges: 'server',
    env: 'POOL',
    parameters: [
      p('--workers', 'count', 'requests handled at once'),
      p('--queue', 'count', 'connections that may wait for a worker; the next is refused with 503'),
      p('--deadline', 'duration', 'from accept: the request must arrive and the reply be delivered by then (408 otherwise)'),
      p('--work', 'duration', 'the time each request takes to handle'),
      p('--max-head', 'size', 'the largest request head it reads; a larger one gets 400'),
    ],
  },
  {
    name: 'prime',
    summary: 'the prime server: `<count> <sí|no>` per message, then a half-close; errors for bad input, never silence',
    files: ['specs/tcp/prime-server.spec.ts'],
    judges: 'server',
    env: 'PRIME',
    parameters: [
      p('--workers', 'count', 'messages handled at once'),
      p('--queue', 'count', 'connections that may wait for a worker; the next is refused with `ERR busy`'),
      p('--timeout', 'duration', 'from accept: the message must arrive by then (`ERR timeout` otherwise)'),
      p('--max-message', 'size', 'the longest message it accepts'),
    ],
  },
  {
    name: 'balancer',
    summary: 'an L4 TCP balancer: exact round-robin, failover past dead and silent backends, half-close, backpressure, limits',
    files: ['specs/balancer/strategies.spec.ts', 'specs/balancer/failover.spec.ts', 'specs/balancer/data-path.spec.ts', 'specs/balancer/operations.spec.ts'],
    judges: 'server',
    env: 'BALANCER',
    setup: 'configure it round-robin over two backends on 127.0.0.1 at --backend-ports (default 5000,5001), nothing listening there: the check starts and stops its own backends on them, one spec at a time',
    parameters: [
      p('--backend-ports', 'ports', 'the two ports on 127.0.0.1 of the backends it balances over, in its order (default 5000,5001)'),
      p('--connect-timeout', 'duration', 'how long it waits for a backend to accept before trying the next'),
      p('--health-interval', 'duration', 'how often it checks each backend (active TCP health checks)'),
      p('--fall', 'count', 'failed checks that take a backend out'),
      p('--rise', 'count', 'passed checks that bring it back'),
      p('--idle-timeout', 'duration', 'how long a connection through which nothing moves is kept'),
      p('--max-connections', 'count', 'the most client connections it keeps at once'),
    ],
  },
  {
    name: 'capacity',
    summary: "a server's connection capacity: it holds the connections it promises, for as long as it promises",
    files: ['specs/capacity/target.spec.ts'],
    judges: 'server',
    env: 'CAPACITY',
    parameters: [
      p('--expect-held', 'count', 'the concurrent connections it promises to hold'),
      p('--hold', 'duration', 'how long it holds them (idle) without closing one'),
    ],
  },
  {
    name: 'http-server',
    summary: "the slow server's keep-alive: a delayed 200, Keep-Alive kept for as long as advertised, idle close, max requests",
    files: ['specs/http-keepalive/slow-server.spec.ts'],
    judges: 'server',
    env: 'HTTP',
    parameters: [
      p('--delay', 'duration', 'how long each response waits'),
      p('--keep-alive', 'duration', 'how long an idle keep-alive connection is kept (its Keep-Alive: timeout=)'),
      p('--max-requests', 'count', 'requests served on one connection before it closes it (its Keep-Alive: max=)'),
    ],
  },
  {
    name: 'http-client',
    summary: "any HTTP client's sockets: bounded however many requests, reused, idle ones closed, none left when it exits",
    files: ['specs/http-keepalive/client-command.spec.ts'],
    judges: 'command',
    env: 'HTTP_CLIENT',
    parameters: [
      p('--command', 'text', "the client to run; {url} (and $CONNLAB_URL) is the check's server"),
      p('--max-sockets', 'count', 'the most connections it opens to one server (default 6)'),
      p('--idle-timeout', 'duration', 'how soon it closes a connection that went idle'),
      p('--delay', 'duration', "how long the check's server waits before each response (default 50ms)"),
      p('--keep-alive', 'duration', "how long the check's server keeps idle connections and advertises it (default 120s)"),
    ],
  },
];

export function familyNamed(name: string): Family | undefined {
  return FAMILIES.find((f) => f.name === name);
}

/** Every parameter flag of any family, once, for the command line to accept. */
export function allParameters(): Parameter[] {
  const byFlag = new Map<string, Parameter>();
  for (const family of FAMILIES) for (const parameter of family.parameters) if (!byFlag.has(parameter.flag)) byFlag.set(parameter.flag, parameter);
  return [...byFlag.values()];
}
