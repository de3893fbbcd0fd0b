/**
 * `pgwarden start`: run the gateway from a config file.
 *
 * SIGHUP reloads the file: a valid config is applied to new connections; an invalid one is
 * rejected with its problems logged, and the running config stays. SIGTERM / SIGINT close the
 * gateway, giving open sessions `limits.shutdown_grace` to finish; a second signal exits at once.
 *
 * With `workers` above 1 this process becomes the cluster's primary (src/cluster/primary.ts) and
 * forks the workers, each of which runs this command again and serves as one worker: the signals
 * go to the primary, which passes a reload or a stop on to every worker.
 */
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { ConfigError, loadConfigFile, type GatewayConfig } from '../config/index.ts';
import { ENV_LOCK_TOKEN, ENV_WORKER, ENV_WORKERS, emptyShares, processChannel, resolveWorkers, runPrimary, workerRole, type WorkerRole } from '../cluster/index.ts';
import { createLogger, type Logger } from '../log.ts';
import { configPath, type ConfigLocation } from './common.ts';

export async function startCommand(o: ConfigLocation): Promise<void> {
  const path = configPath(o);
  const config: GatewayConfig = await loadConfigFile(path);
  const logger = createLogger(config.log.level);
  if (cluster.isWorker && process.env[ENV_WORKER] !== undefined) {
    const n = Number(process.env[ENV_WORKER]);
    const count = Number(process.env[ENV_WORKERS]);
    const channel = processChannel();
    try {
      return await serve(path, config, logger.child({ worker: n, pid: process.pid }), { role: workerRole(n, count, channel, { pid: process.ppid, token: process.env[ENV_LOCK_TOKEN] ?? `worker-${process.pid}` }), channel });
    } catch (err) {
      // The IPC channel alone must not keep a worker that could not start alive.
      process.channel?.unref();
      throw err;
    }
  }
  const count = resolveWorkers(config.workers, availableParallelism());
  if (count === 1) return serve(path, config, logger);
  let current = config;
  const warnShares = (c: GatewayConfig) => {
    const empty = emptyShares(c.limits, count);
    if (empty.length) logger.warn({ workers: count, limits: empty }, 'limits are split between the workers, and these are smaller than the number of workers: some worker refuses every connection they count');
  };
  warnShares(config);
  await runPrimary({
    count,
    logger,
    graceMs: () => current.limits.shutdown_grace,
    reloading: () => {
      loadConfigFile(path).then(
        (next) => {
          if (resolveWorkers(next.workers, availableParallelism()) !== count) logger.warn({ workers: count }, 'workers changed in the config: the number of workers changes at the next start');
          current = next;
          logger.level = next.log.level;
          warnShares(next);
        },
        // Each worker reads the file too, and logs its problems.
        () => undefined,
      );
    },
    exit: (code) => exitAfterFlush(logger, code),
  });
}

async function serve(path: string, config: GatewayConfig, logger: Logger, worker?: { role: WorkerRole; channel: ReturnType<typeof processChannel> }): Promise<void> {
  // Imported here so that `check` and `--help` do not load the whole gateway.
  const { startGateway } = await import('../main.ts');
  const gw = await startGateway(config, { logger, configPath: path, worker: worker?.role });

  let reloading = Promise.resolve();
  const reload = () => {
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
  };
  process.on('SIGHUP', reload);

  let stopping = false;
  const stop = (signal: NodeJS.Signals | 'primary') => {
    if (stopping) {
      // The primary's stop after a Ctrl-C the whole process group saw is the same stop.
      if (signal === 'primary') return;
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

  if (worker) {
    worker.channel.on((m) => {
      if (m.pgw === 'reload') reload();
      else if (m.pgw === 'stop') stop('primary');
    });
    // The primary gone (killed): no new connection reaches this worker; finish and go.
    process.once('disconnect', () => stop('primary'));
    worker.channel.send({ pgw: 'ready', postgres: gw.postgres, ...(worker.role.http ? { http: gw.http } : {}) });
  }
}

/** pino writes asynchronously: flush the last lines before the process goes. */
export async function exitAfterFlush(logger: Logger, code: number): Promise<never> {
  await new Promise<void>((resolve) => logger.flush(() => resolve()));
  process.exit(code);
}
