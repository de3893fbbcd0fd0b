/**
 * PostgreSQL v3 wire protocol codec, both directions. Pure: no sockets.
 *
 * Data flow: bytes from a socket → `StartupFramer` (startup phase) or `MessageFramer` (tagged
 * messages, whole) / `StreamScanner` (server responses, zero-copy runs) → the decoders of
 * `frontend.ts` / `backend.ts` for the few messages a decision needs; everything else is forwarded
 * as the same bytes. Encoders build the messages the gateway itself says.
 */
export * from './constants.ts';
export { Reader, ProtocolError } from './reader.ts';
export { Writer } from './writer.ts';
export { StartupFramer, MessageFramer, MessageTooLargeError, type FrameHandler } from './framer.ts';
export { StreamScanner, type ScanSink } from './scanner.ts';
export { ByteGather, type ByteSink } from './gather.ts';
export * from './frontend.ts';
export * from './backend.ts';
