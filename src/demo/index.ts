/**
 * The demo: an embedded upstream with sample data, the development issuer and a gateway, with
 * ready-to-paste connection lines for the demo identities.
 */
import type { Logger } from '../log.ts';

export interface DemoOptions {
  port: number;
  httpPort: number;
  dataDir: string;
  upstream?: string;
  logger: Logger;
}

export async function runDemo(_options: DemoOptions): Promise<{ close(): Promise<void> }> {
  throw new Error('pgwarden demo: not built yet');
}
