/**
 * `pgwarden start`: run the gateway from a config file.
 *
 * SIGHUP reloads the file: a valid config is applied to new connections; an invalid one is
 * rejected with its problems logged, and the running config stays. SIGTERM / SIGINT close the
 * gateway, giving open sessions `limits.shutdown_grace` to finish; a second signal exits at once.
 */
import { ConfigError, loadConfigFile, type GatewayConfig } from '../config/index.ts';
import { createLogger, type Logger } from '../log.ts';
import { configPath, type ConfigLocation } from './common.ts';

export async function startCommand(o: ConfigLocation): Promise<void> {
  const path = configPath(o);
  let config: GatewayConfig = await loadConfigFile(path);
  const logger = createLogger(config.log.level);
  // Imported here so that `check` and `--help` do not load the whole gateway.
  const { startGateway } = await import('../main.ts');
  const gw = await startGateway(config, { logger, configPath: path });

  let reloading = Promise.resolve();
  process.on('SIGHUP', () => {
    reloading = reloading.then(async () => {
      try {
        const next = await loadConfigFile(path);
        gw.reload(next);
        config = next;
        logger.level = next.log.level;
        logger.info({ config: path }, 'config reloaded');
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        for (const problem of err.problems) logger.warn({ problem }, 'config reload rejected, keeping the running config');
      }
    }).catch((err: unknown) => logger.error({ err }, 'config reload failed, keeping the running config'));
  });

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      void exitAfterFlush(logger, 1);
      return;
    }
    stopping = true;
    logger.info({ signal, graceMs: config.limits.shutdown_grace }, 'shutting down');
    gw.close(config.limits.shutdown_grace).then(
      () => exitAfterFlush(logger, 0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        return exitAfterFlush(logger, 1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** pino writes asynchronously: flush the last lines before the process goes. */
export async function exitAfterFlush(logger: Logger, code: number): Promise<never> {
  await new Promise<void>((resolve) => logger.flush(() => resolve()));
  process.exit(code);
}
