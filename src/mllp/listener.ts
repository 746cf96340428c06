/**
 * The MLLP listener: a TCP server on a configured host and port. Every complete frame is handed to
 * `handle` and its answer (the ACK) is sent back framed, in the order the messages arrived on that
 * connection (a connection's messages are processed one after another, so a later update never
 * overtakes an earlier create). Limits: frame size (the connection is closed on an oversized frame,
 * since its boundaries can no longer be trusted) and idle time.
 */
import net from 'node:net';
import type { Logger } from '../core/logger.js';
import { FrameTooLargeError, MllpDecoder, frame } from './framing.js';

export interface MllpListenerOptions {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** Answers one message (decoded text) with the ACK text. Must not throw; a throw answers nothing and closes. */
  handle: (message: string) => Promise<string>;
  maxFrameBytes?: number;
  idleTimeoutMs?: number;
  /** Most connections at once (default 64); more are refused by the OS listener. */
  maxConnections?: number;
  log: Logger;
}

/** Messages of one connection waiting for processing before the connection is read no further. */
const MAX_PENDING = 8;

export interface MllpListener {
  /** The bound port. */
  port: number;
  close(): Promise<void>;
}

export async function startMllpListener(o: MllpListenerOptions): Promise<MllpListener> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.setTimeout(o.idleTimeoutMs ?? 120_000, () => socket.destroy());
    socket.on('error', (err) => o.log.debug({ err: err.message }, 'mllp connection error'));
    const decoder = new MllpDecoder(o.maxFrameBytes ?? 10 * 1024 * 1024);
    let queue: Promise<void> = Promise.resolve();
    // Backpressure: a sender that does not wait for its ACKs is read no further while MAX_PENDING messages
    // of its connection wait, so one connection cannot fill memory with queued frames.
    let pending = 0;
    socket.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        if (err instanceof FrameTooLargeError) o.log.warn({ limit: err.limit, remote: socket.remoteAddress }, 'mllp frame too large; connection closed');
        socket.destroy();
        return;
      }
      for (const payload of frames) {
        pending++;
        if (pending >= MAX_PENDING) socket.pause();
        queue = queue.then(async () => {
          if (socket.destroyed) return;
          const ack = await o.handle(decodeText(payload));
          if (!socket.destroyed) socket.write(frame(ack));
        }).finally(() => {
          pending--;
          if (pending < MAX_PENDING && socket.isPaused() && !socket.destroyed) socket.resume();
        }).catch((err: unknown) => {
          o.log.error({ err: err instanceof Error ? err.message : String(err) }, 'mllp message handling failed; connection closed');
          socket.destroy();
        });
      }
    });
  });
  server.maxConnections = o.maxConnections ?? 64;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : o.port,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.end();
      const force = setTimeout(() => { for (const s of sockets) s.destroy(); }, 2000);
      force.unref();
      server.close(() => {
        clearTimeout(force);
        resolve();
      });
    }),
  };
}

/**
 * HL7 v2 text from frame bytes: UTF-8 unless MSH-18 names ISO 8859-1 (`8859/1`), the other
 * character set senders commonly declare.
 */
export function decodeText(payload: Buffer): string {
  const head = payload.subarray(0, 512).toString('latin1');
  const msh = head.split(/[\r\n]/, 1)[0] ?? '';
  const sep = msh[3] ?? '|';
  const charset = msh.split(sep)[17] ?? '';
  return /^8859\/1$/i.test(charset.trim()) ? payload.toString('latin1') : payload.toString('utf8');
}
