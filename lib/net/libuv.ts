// Node's own libuv TCP handles: the `tcp_wrap` binding net.Socket is built on, without the stream
// machine on top. connlab uses them where that machine costs more than the work it wraps: holding
// 100,000 idle connections (the capacity tester), and one small read and one small write per message
// at tens of thousands of messages a second (the ack server, the load client, the balancer).
// It is an internal API, reached through process.binding: it is loaded and checked once here, and every
// user falls back to net when it is missing, or when CONNLAB_LEAN_SOCKETS=0 asks for net.
import { getSystemErrorName } from 'node:util';

/** A connected or listening libuv TCP handle. Only what connlab calls is typed. */
export interface TcpHandle {
  bind(address: string, port: number): number;
  bind6(address: string, port: number, flags: number): number;
  listen(backlog: number): number;
  connect(req: ConnectReq, address: string, port: number): number;
  connect6(req: ConnectReq, address: string, port: number): number;
  getsockname(out: SockAddr): number;
  getpeername(out: SockAddr): number;
  setNoDelay(on: boolean): number;
  readStart(): number;
  readStop(): number;
  /** Reads go into this buffer (offset 0) instead of a fresh ArrayBuffer each time. */
  useUserBuffer(buffer: Uint8Array): void;
  writeBuffer(req: WriteReq, data: Uint8Array): number;
  writeLatin1String(req: WriteReq, data: string): number;
  shutdown(req: ShutdownReq): number;
  close(callback?: () => void): void;
  reset?(callback?: () => void): number;
  /** Bytes libuv holds that the kernel has not taken yet. */
  readonly writeQueueSize: number;
  /**
   * Called after each read: readResult() is the byte count or a negative errno. With a user buffer it
   * gets no argument, can be called with 0 bytes (a read that found nothing more after one that filled
   * the buffer: not an error), and may return the buffer the next read should use.
   */
  onread: ((this: TcpHandle, buffer?: ArrayBuffer) => Uint8Array | void) | null;
  onconnection?: (status: number, handle?: TcpHandle) => void;
}
export interface SockAddr {
  address?: string;
  port?: number;
  family?: string;
}
export interface ConnectReq {
  oncomplete: (status: number, handle: TcpHandle, req: ConnectReq) => void;
}
export interface WriteReq {
  handle: TcpHandle;
  oncomplete: (this: WriteReq, status: number) => void;
  /** Keeps a Buffer alive while libuv still writes from it. */
  buffer?: Uint8Array;
}
export interface ShutdownReq {
  handle: TcpHandle;
  oncomplete: (this: ShutdownReq, status: number) => void;
}

interface TcpBinding {
  TCP: new (type: number) => TcpHandle;
  TCPConnectWrap: new () => ConnectReq;
  constants: { SOCKET: number; SERVER: number };
}
interface StreamBinding {
  WriteWrap: new () => WriteReq;
  ShutdownWrap: new () => ShutdownReq;
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
  kLastWriteWasAsync: number;
}

export interface Libuv {
  tcp: TcpBinding;
  stream: StreamBinding;
  /** After a read callback: the byte count, or a negative errno (UV_EOF for a FIN). */
  readResult(): number;
  /** After a read callback without a user buffer: where the data starts in the ArrayBuffer. */
  readOffset(): number;
  /** After a write call: libuv queued part of it, and the request's oncomplete will follow. */
  lastWriteWasAsync(): boolean;
}

function load(): Libuv | undefined {
  if (process.env.CONNLAB_LEAN_SOCKETS === '0') return undefined;
  try {
    const binding = (process as unknown as { binding(name: string): unknown }).binding;
    const tcp = binding('tcp_wrap') as TcpBinding;
    const stream = binding('stream_wrap') as StreamBinding;
    if (typeof tcp.TCP !== 'function' || typeof stream.WriteWrap !== 'function' || !(stream.streamBaseState instanceof Int32Array)) return undefined;
    const state = stream.streamBaseState;
    const { kReadBytesOrError, kArrayBufferOffset, kLastWriteWasAsync } = stream;
    return {
      tcp,
      stream,
      readResult: () => state[kReadBytesOrError],
      readOffset: () => state[kArrayBufferOffset],
      lastWriteWasAsync: () => state[kLastWriteWasAsync] !== 0,
    };
  } catch {
    return undefined;
  }
}

/** The binding, or undefined where it is missing or turned off (then use net). */
export const LIBUV = load();

/** libuv's status for end of stream (the peer's FIN). */
export const UV_EOF = -4095;

/** The errno name of a negative libuv status: ECONNRESET, EPIPE, ... */
export function codeOf(status: number): string {
  if (status === UV_EOF) return 'EOF';
  try {
    return getSystemErrorName(status);
  } catch {
    return `E${-status}`;
  }
}
