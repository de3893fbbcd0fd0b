// A client flood run as a process of its own (plain JavaScript, no test helpers), so that neither
// its work nor its memory is in the process of the in-process gateway whose latency and memory the
// test measures. argv[2]: JSON { port, token, oversizedToken?, rounds }: the oversized statements
// are sent under oversizedToken when given, so that the partial ones' identity cap (which ends the
// connection that takes the identity over it, whichever that is) cannot end them. Sends { conns: [{ kind, closed, errors,
// written, refusedThenWorked }] } over IPC, then closes everything on any message back and exits.
import net from 'node:net';

const { port, token, oversizedToken, rounds } = JSON.parse(process.argv[2]);
const MiB = 1024 * 1024;
const chunk = Buffer.alloc(256 * 1024, 0x61);

function frame(tag, body) {
  const b = Buffer.alloc(5 + body.length);
  b[0] = tag.charCodeAt(0);
  b.writeInt32BE(body.length + 4, 1);
  body.copy(b, 5);
  return b;
}

function connect() {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const conn = { s, closed: false, errors: [], messages: [], buf: Buffer.alloc(0), wake: null };
    s.on('error', () => {});
    s.on('close', () => {
      conn.closed = true;
      conn.wake?.();
    });
    s.on('data', (d) => {
      conn.buf = Buffer.concat([conn.buf, d]);
      while (conn.buf.length >= 5) {
        const len = conn.buf.readInt32BE(1);
        if (conn.buf.length < len + 1) break;
        const tag = String.fromCharCode(conn.buf[0]);
        const body = conn.buf.subarray(5, len + 1);
        if (tag === 'E') {
          const f = {};
          let i = 0;
          while (i < body.length && body[i] !== 0) {
            const end = body.indexOf(0, i + 1);
            f[String.fromCharCode(body[i])] = body.toString('utf8', i + 1, end);
            i = end + 1;
          }
          conn.errors.push(f);
        }
        conn.messages.push(tag);
        conn.buf = conn.buf.subarray(len + 1);
      }
      conn.wake?.();
    });
    s.once('connect', () => {
      const params = Buffer.from('user\0agent\0database\0app\0\0');
      const start = Buffer.alloc(8 + params.length);
      start.writeInt32BE(start.length, 0);
      start.writeInt32BE(196608, 4);
      params.copy(start, 8);
      s.write(start);
      resolve(conn);
    });
    s.once('error', reject);
  });
}

async function until(conn, tag, ms = 20000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const i = conn.messages.indexOf(tag);
    if (i >= 0) return conn.messages.splice(0, i + 1);
    if (conn.closed || Date.now() > deadline) return null;
    await new Promise((r) => {
      conn.wake = r;
      setTimeout(r, 100);
    });
  }
}

async function signIn(as = token) {
  const c = await connect();
  await until(c, 'R');
  c.s.write(frame('p', Buffer.from(as + '\0')));
  await until(c, 'Z');
  return c;
}

function sendBody(c, bytes) {
  for (let sent = 0; sent < bytes; sent += chunk.length) c.s.write(chunk.subarray(0, Math.min(chunk.length, bytes - sent)));
}

/** Write a message header claiming `claimed` bytes in all, then `bytes` of it. */
function sendPart(c, tag, claimed, bytes) {
  const head = Buffer.alloc(5);
  head[0] = tag.charCodeAt(0);
  head.writeInt32BE(claimed - 1, 1);
  c.s.write(head);
  for (let sent = 5; sent < bytes; sent += chunk.length) c.s.write(chunk.subarray(0, Math.min(chunk.length, bytes - sent)));
}

const conns = [];
const tasks = [];
// Connections sign in one after another (the gateway lets only a few sign in at once per source).
for (let round = 0; round < rounds; round++) {
  for (let i = 0; i < 6; i++) {
    {
      // Oversized: a 16 MiB Query (its text a long literal), then a small one on the same connection.
      const c = await signIn(oversizedToken ?? token);
      const rec = { kind: 'oversized', c };
      conns.push(rec);
      tasks.push(
        (async () => {
          const head = Buffer.alloc(5);
          head[0] = 0x51;
          head.writeInt32BE(16 * MiB - 1, 1);
          c.s.write(head);
          c.s.write(Buffer.from("select '"));
          sendBody(c, 16 * MiB - 5 - 8 - 2);
          c.s.write(Buffer.from([0x27, 0]));
          rec.first = await until(c, 'Z');
          c.s.write(frame('Q', Buffer.from('select now()\0')));
          rec.after = await until(c, 'Z');
        })(),
      );
    }
    {
      const c = await signIn();
      conns.push({ kind: 'partial', c });
      sendPart(c, 'B', 15 * MiB, 12 * MiB);
    }
    {
      const c = await signIn();
      conns.push({ kind: 'partial', c });
      sendPart(c, 'Q', MiB, MiB - 4096);
    }
  }
}
await Promise.all(tasks);
// Wait until everything written was taken by the gateway (or the connection ended).
const deadline = Date.now() + 15000;
while (conns.some((r) => !r.c.closed && r.c.s.writableLength > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
await new Promise((r) => setTimeout(r, 300));
process.send({
  conns: conns.map((r) => ({
    kind: r.kind,
    closed: r.c.closed,
    errors: r.c.errors,
    written: r.c.s.bytesWritten,
    refusedThenWorked: r.kind === 'oversized' ? Boolean(r.first?.includes('E') && r.after?.includes('C')) : undefined,
  })),
});
process.once('message', () => {
  for (const r of conns) r.c.s.destroy();
  process.exit(0);
});
