// The SQL parser's worker thread: parses statement texts too large to parse on the event loop
// (see parseAhead in parser.ts). Plain JavaScript so it loads the same way with or without the
// TypeScript loader. Replies with the parse tree as JSON text (parsed where it is needed, and only
// if it is needed) or with what libpg-query threw.
import { parentPort } from 'node:worker_threads';
import { loadModule, parseSync } from 'libpg-query';

await loadModule();
parentPort.on('message', ({ id, text }) => {
  try {
    parentPort.postMessage({ id, json: JSON.stringify(parseSync(text)) });
  } catch (err) {
    const d = err && typeof err === 'object' ? err.sqlDetails : undefined;
    const message = err && typeof err === 'object' && typeof err.message === 'string' ? err.message : '';
    parentPort.postMessage({ id, error: { sqlDetails: d ? { message: d.message, cursorPosition: d.cursorPosition } : undefined, message } });
  }
});
parentPort.postMessage({ ready: true });
