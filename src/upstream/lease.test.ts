/**
 * The lease contract, over real loopback TCP connections: the engine gives a server connection
 * back with `release(mode)` and never closes it itself, so what each mode does to the connection
 * is decided here.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { TERMINATE } from '../protocol/index.ts';
import { leaseConnection, type LeaseOptions, type UpstreamLease } from './lease.ts';
import type { UpstreamTarget } from './connect.ts';

/** A server end that records what it receives and whether the peer ended politely. */
interface Peer {
  received(): Buffer;
  /** Resolves when the client's side is gone: 'end' after a FIN, 'reset' or 'close' otherwise. */
  gone: Promise<'end' | 'close'>;
  socket: net.Socket;
}

const servers: net.Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

async function pair(o: LeaseOptions & { closeOnEnd?: boolean } = {}): Promise<{ lease: UpstreamLease; client: net.Socket; peer: Peer; target: UpstreamTarget }> {
  const closeOnEnd = o.closeOnEnd ?? true;
  let resolvePeer!: (p: Peer) => void;
  const peerReady = new Promise<Peer>((r) => (resolvePeer = r));
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const chunks: Buffer[] = [];
    let ended = false;
    const gone = new Promise<'end' | 'close'>((resolve) => {
      socket.on('end', () => {
        ended = true;
        resolve('end');
        // A server closes its end after the client's Terminate; one that does not is the case
        // the grace period is for.
        if (closeOnEnd) socket.end();
      });
      socket.on('close', () => resolve(ended ? 'end' : 'close'));
    });
    socket.on('error', () => {});
    socket.on('data', (c) => chunks.push(c));
    resolvePeer({ received: () => Buffer.concat(chunks), gone, socket });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const client = net.connect({ host: '127.0.0.1', port });
  client.on('error', () => {});
  await new Promise<void>((r) => client.once('connect', r));
  const peer = await peerReady;
  const target: UpstreamTarget = { name: 'test', host: '127.0.0.1', port, user: 'u', database: 'd', tls: { mode: 'disable' }, connectTimeoutMs: 2000 };
  const conn = { socket: client, parameters: new Map([['server_version', '15.0']]), pid: 4242, secret: Buffer.from([1, 2, 3, 4]), txStatus: 'I' as const, leftover: null };
  return { lease: leaseConnection(conn, target, o), client, peer, target };
}

function closed(s: net.Socket): Promise<void> {
  return s.closed ? Promise.resolve() : new Promise((r) => s.once('close', () => r()));
}

describe('UpstreamLease', () => {
  it('carries what the session needs of its connection', async () => {
    const { lease, client } = await pair();
    assert.equal(lease.stream, client);
    assert.equal(lease.parameters.get('server_version'), '15.0');
    assert.deepEqual(lease.backendKey, { pid: 4242, secret: Buffer.from([1, 2, 3, 4]) });
    assert.equal(lease.txStatus, 'I');
    assert.equal(lease.released, null);
    lease.release('broken');
  });

  for (const mode of ['clean', 'dirty'] as const) {
    it(`a ${mode} release ends the connection with Terminate, and the slot is free once it has closed`, async () => {
      let freed = 0;
      const { lease, client, peer } = await pair({ onClosed: () => freed++ });
      lease.stream.write(Buffer.from('Q\0\0\0\x0dselect 1\0', 'latin1'));
      lease.release(mode);
      assert.equal(lease.released, mode);
      assert.equal(client.destroyed, false, 'what was written is still delivered');
      assert.equal(await peer.gone, 'end', 'the server sees a clean end of stream');
      await closed(client);
      assert.deepEqual(peer.received().subarray(-5), TERMINATE, 'Terminate is the last message');
      assert.equal(peer.received().length, 14 + 5, 'the statement, then Terminate, nothing else');
      await new Promise((r) => setImmediate(r));
      assert.equal(freed, 1);
    });
  }

  it('a broken release destroys the connection at once, without a Terminate', async () => {
    let freed = 0;
    const { lease, client, peer } = await pair({ onClosed: () => freed++ });
    lease.release('broken');
    assert.equal(client.destroyed, true, 'destroyed synchronously');
    await peer.gone;
    await closed(client);
    assert.equal(peer.received().length, 0);
    await new Promise((r) => setImmediate(r));
    assert.equal(freed, 1);
  });

  it('release is idempotent: the first mode decides, later calls change nothing', async () => {
    let freed = 0;
    const { lease, client, peer } = await pair({ onClosed: () => freed++ });
    lease.release('dirty');
    lease.release('broken');
    lease.release('clean');
    assert.equal(lease.released, 'dirty');
    assert.equal(client.destroyed, false, 'the later broken release did not cut the Terminate off');
    assert.equal(await peer.gone, 'end');
    await closed(client);
    lease.release('broken');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(peer.received(), TERMINATE, 'one Terminate');
    assert.equal(freed, 1, 'the slot is freed once');
  });

  it('a server that never closes after Terminate is cut off after the grace period', async () => {
    const { lease, client, peer } = await pair({ closeOnEnd: false, closeGraceMs: 50 });
    const t0 = Date.now();
    lease.release('clean');
    await closed(client);
    assert.ok(Date.now() - t0 >= 40, 'not before the grace period');
    assert.equal(client.destroyed, true);
    peer.socket.destroy();
  });

  it('a connection the server closes first frees its slot without a release, and a release afterwards is harmless', async () => {
    let freed = 0;
    const { lease, client, peer } = await pair({ onClosed: () => freed++ });
    peer.socket.destroy();
    await closed(client);
    await new Promise((r) => setImmediate(r));
    assert.equal(freed, 1);
    lease.release('dirty');
    lease.release('broken');
    assert.equal(freed, 1);
  });

  it('cancel sends the server its own key while held, and nothing once released', async () => {
    const sent: { pid: number; secret: Buffer }[] = [];
    const { lease } = await pair({
      sendCancel: async (_t, pid, secret) => {
        sent.push({ pid, secret });
      },
    });
    await lease.cancel();
    assert.deepEqual(sent, [{ pid: 4242, secret: Buffer.from([1, 2, 3, 4]) }]);
    lease.release('broken');
    await lease.cancel();
    assert.equal(sent.length, 1);
  });

  it('cancel reaches the server as a CancelRequest on a connection of its own', async () => {
    const { lease, peer } = await pair();
    // The pair's server also accepts the cancel connection: the second connection gets the packet.
    const packet = new Promise<Buffer>((resolve) => {
      const server = servers[servers.length - 1];
      server.once('connection', (s) => {
        const chunks: Buffer[] = [];
        s.on('data', (c) => chunks.push(c));
        s.on('end', () => {
          resolve(Buffer.concat(chunks));
          s.end();
        });
      });
    });
    await lease.cancel();
    const p = await packet;
    assert.equal(p.length, 16);
    assert.equal(p.readInt32BE(4), 80877102, 'the CancelRequest code');
    assert.equal(p.readInt32BE(8), 4242);
    assert.deepEqual(p.subarray(12), Buffer.from([1, 2, 3, 4]));
    assert.equal(peer.received().length, 0, 'nothing on the leased connection');
    lease.release('broken');
  });
});
