// The SQL parser's worker thread: parses statement texts too large to parse on the event loop
// (see parseAhead in parser.ts). Plain JavaScript so it loads the same way with or without the
// TypeScript loader. Replies with the parse tree as JSON text (parsed where it is needed, and only
// if it is needed) and its size in nodes (the objects of the tree: what reading and analysing it
// on the event loop costs), or with what libpg-query threw.
import { parentPort } from 'node:worker_threads';
import { loadModule, parseSync } from 'libpg-query';

await loadModule();
parentPort.on('message', ({ id, text, maxNodes }) => {
  try {
    const tree = parseSync(text);
    const nodes = countNodes(tree);
    // A tree over the limit is refused unread: its text is not needed.
    parentPort.postMessage(nodes > maxNodes ? { id, nodes } : { id, json: JSON.stringify(tree), nodes });
  } catch (err) {
    const d = err && typeof err === 'object' ? err.sqlDetails : undefined;
    const message = err && typeof err === 'object' && typeof err.message === 'string' ? err.message : '';
    parentPort.postMessage({ id, error: { sqlDetails: d ? { message: d.message, cursorPosition: d.cursorPosition } : undefined, message } });
  }
});
parentPort.postMessage({ ready: true });

/** The objects of a parse tree (each node is one or two: its type's wrapper and its fields). */
function countNodes(tree) {
  let n = 0;
  const stack = [tree];
  while (stack.length > 0) {
    const v = stack.pop();
    if (Array.isArray(v)) {
      for (const x of v) if (x !== null && typeof x === 'object') stack.push(x);
    } else {
      n++;
      for (const k in v) {
        const x = v[k];
        if (x !== null && typeof x === 'object') stack.push(x);
      }
    }
  }
  return n;
}
