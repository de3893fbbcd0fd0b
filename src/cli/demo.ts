/** `pgwarden demo`: the embedded demo (upstream with sample data, development issuer, gateway). */
import { createLogger } from '../log.ts';
import { exitAfterFlush } from './start.ts';

export interface DemoCommandOptions {
  port: number;
  httpPort: number;
  dataDir: string;
  upstream?: string;
}

export async function demoCommand(o: DemoCommandOptions): Promise<void> {
  const logger = createLogger('info');
  // Imported here: the demo brings its own heavy dependencies that other commands do not need.
  const { runDemo } = await import('../demo/index.ts');
  const demo = await runDemo({ port: o.port, httpPort: o.httpPort, dataDir: o.dataDir, upstream: o.upstream, logger });
  let stopping = false;
  const stop = () => {
    if (stopping) return void exitAfterFlush(logger, 1);
    stopping = true;
    demo.close().then(
      () => exitAfterFlush(logger, 0),
      (err: unknown) => {
        logger.error({ err }, 'demo shutdown failed');
        return exitAfterFlush(logger, 1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
