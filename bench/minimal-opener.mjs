// The reference the capacity benchmark compares against: the smallest Node program that opens N
// connections from one process (net.connect, at most 512 dials in flight, as the tester does),
// reporting its open rate and resident memory per held connection as one JSON line.
//   node bench/minimal-opener.mjs HOST PORT N
import net from 'node:net';
import process from 'node:process';
import { performance } from 'node:perf_hooks';
import { setTimeout } from 'node:timers';

const [host, portText, countText] = process.argv.slice(2);
const port = Number(portText);
const total = Number(countText);
const sockets = [];
let started = 0;
let open = 0;
let failed = 0;
let inFlight = 0;
const baseline = process.memoryUsage.rss();
const t0 = performance.now();

function next() {
  while (inFlight < 512 && started < total) {
    started++;
    inFlight++;
    const socket = net.connect({ host, port });
    let connected = false;
    socket.on('error', () => {});
    socket.once('connect', () => {
      connected = true;
      inFlight--;
      open++;
      sockets.push(socket);
      done();
    });
    socket.once('close', () => {
      if (!connected) {
        inFlight--;
        failed++;
        done();
      }
    });
  }
}

function done() {
  if (open + failed < total) return next();
  const ms = performance.now() - t0;
  const rss = process.memoryUsage.rss();
  process.stdout.write(`${JSON.stringify({ connections: total, open, failed, ms: Math.round(ms), perSecond: Math.round((open * 1000) / ms), perConnectionBytes: Math.round((rss - baseline) / Math.max(1, open)), rssBytes: rss })}\n`);
  for (const socket of sockets) socket.resetAndDestroy();
  setTimeout(() => process.exit(0), 100);
}

next();
