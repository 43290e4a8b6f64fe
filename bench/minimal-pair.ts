// A minimal Node ack server and lock-step client pair, the floor any Node implementation starts from.
// Run as `node --import tsx bench/minimal-pair.ts server` (prints its port) or
// `... client PORT CONNECTIONS MESSAGES` (prints round trips per second).
import net from 'node:net';

const [mode, ...args] = process.argv.slice(2);

if (mode === 'server') {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('data', (chunk) => socket.write(Buffer.concat([Buffer.from('ACK '), chunk])));
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`listening on 127.0.0.1:${(server.address() as net.AddressInfo).port}\n`));
  process.on('SIGTERM', () => process.exit(0));
} else {
  const [port, connections, messages] = args.map(Number);
  const started = performance.now();
  let done = 0;
  await Promise.all(
    Array.from({ length: connections }, (_, i) =>
      new Promise<void>((resolve) => {
        const socket = net.connect({ port, host: '127.0.0.1', noDelay: true }, () => socket.write(`m ${i}\n`));
        let left = messages;
        socket.on('data', () => {
          done++;
          if (--left === 0) {
            socket.end();
            resolve();
          } else socket.write(`m ${i}\n`);
        });
      }),
    ),
  );
  process.stdout.write(`${JSON.stringify({ roundTripsPerSecond: (done * 1000) / (performance.now() - started) })}\n`);
}
