/**
 * The `pgwarden` command line: thin subcommands over the parts (config, main, the admin API, the
 * demo, the MCP stdio bridge, policy tests). `runCli(argv)` parses, runs one subcommand and resolves with the
 * exit code; long-running commands (start, demo) resolve once serving and exit from their signal
 * handlers; mcp-stdio resolves when its stdin ends.
 *
 * Failures the user can act on (`CliError`, `ConfigError`, `GatewayError`) print as
 * `pgwarden: <message>` (a config prints one problem per line) with exit code 1 — never a stack.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, configJsonSchemaText } from '../config/index.ts';
import { GatewayError } from '../errors.ts';
import { visible } from '../terminal-text.ts';
import { registerAuditCommands } from './audit.ts';
import { checkCommand } from './check.ts';
import { CliError, portOption } from './common.ts';
import { demoCommand } from './demo.ts';
import { explainCommand } from './explain.ts';
import { mcpStdioCommand } from './mcp-stdio.ts';
import { catalogDumpCommand, policyDiffCommand, policyTestCommand } from './policy.ts';
import { revokeCommand } from './revoke.ts';
import { registerReviewCommands } from './reviews.ts';
import { startCommand } from './start.ts';
import { tokenCommand } from './token.ts';

export { CliError } from './common.ts';

export function buildProgram(): Command {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  const program = new Command('pgwarden')
    .description('Identity-aware PostgreSQL gateway: OIDC tokens in, policy-checked SQL out.')
    .version(pkg.version)
    .showHelpAfterError('(pgwarden --help lists the commands and their options)')
    .exitOverride();
  const configOptions = (cmd: Command) =>
    cmd.option('--config <file>', 'the gateway config file').option('--data-dir <dir>', 'a data directory; its pgwarden.yaml is the config');

  configOptions(program.command('check').description('validate a config file and list every problem with its line')).action(checkCommand);

  configOptions(program.command('start').description('run the gateway (SIGHUP reloads the config, SIGTERM shuts down gracefully)')).action(startCommand);

  configOptions(
    program
      .command('revoke')
      .description('revoke a subject through the admin API, ending its open sessions')
      .option('--subject <subject>', 'the token subject to revoke')
      .option('--issuer <issuer>', 'only the subject of this issuer (URL or configured name)')
      .option('--undo', 'lift the revocation instead')
      .option('--list', 'list the current revocations'),
  )
    .option('--url <url>', 'the gateway HTTP address, e.g. https://pgwarden.example.com (plain http only to loopback)')
    .option('--ca <file>', "a CA certificate (PEM) to trust for the gateway's https address, besides the system's")
    .option('--token-stdin', 'read the admin token from standard input (default: $PGWARDEN_TOKEN)')
    .addOption(new Option('--token <jwt>').hideHelp())
    .action((o) => revokeCommand(o));

  configOptions(
    program
      .command('explain')
      .description('show how the gateway analyses a statement for an identity, and its decision')
      .requiredOption('--identity <subject[,group…]>', 'the identity: its subject and groups, e.g. analyst,analysts')
      .requiredOption('--sql <text>', 'the SQL to explain')
      .option('--database <name>', 'the client database name (default: the first routed one)')
      .option('--issuer <issuer>', 'the issuer URL or name the identity comes from (default: the first)')
      .option('--search-path <path>', 'the session search_path (default: the upstream role default)')
      .option('--json', 'print the analysis and decision as JSON'),
  ).action(explainCommand);

  const collect = (value: string, previous: string[] = []) => [...previous, value];
  const policy = program.command('policy').description('test policies as code: expected decisions, and what a config change would change');
  configOptions(
    policy
      .command('test')
      .description('run a file of policy test cases through the gateway\'s checks; exit 1 with a diff when one is decided otherwise')
      .argument('<tests>', 'the tests file (YAML)')
      .option('--catalog <file>', 'a catalog snapshot from pgwarden catalog dump (repeatable; default: load it from the upstream)', collect)
      .option('--json', 'print the results as JSON'),
  ).action((tests: string, o) => policyTestCommand(tests, o));
  policy
    .command('diff')
    .description('show which recorded statements two configs decide differently')
    .argument('<old>', 'the config in force')
    .argument('<new>', 'the changed config')
    .requiredOption('--statements <file>', 'JSON lines from pgwarden audit export, or one SQL statement per line (with --identity)')
    .option('--catalog <file>', 'a catalog snapshot from pgwarden catalog dump (repeatable; default: load it from the upstream)', collect)
    .option('--identity <subject[,group…]>', 'the identity of statements that record none')
    .option('--issuer <issuer>', 'its issuer URL or name (default: the first)')
    .option('--database <name>', 'the database of statements that record none (default: the first routed one)')
    .option('--search-path <path>', 'the search_path statements run with (default: the upstream role default)')
    .option('--exit-code', 'exit 1 when any statement would be decided differently')
    .action((oldFile: string, newFile: string, o) => policyDiffCommand(oldFile, newFile, o));

  const catalog = program.command('catalog').description("the upstream's catalog as the gateway sees it");
  configOptions(
    catalog
      .command('dump')
      .description('write a catalog snapshot (JSON) for policy tests without a database')
      .option('--database <name>', 'the client database name (default: the first routed one)'),
  ).action((o) => catalogDumpCommand(o));

  const configCmd = program.command('config').description('the configuration file format');
  configCmd
    .command('schema')
    .description('print the JSON Schema of pgwarden.yaml, for editors')
    .action(() => {
      process.stdout.write(configJsonSchemaText());
    });

  registerAuditCommands(program, configOptions);
  registerReviewCommands(program, configOptions);

  program
    .command('token')
    .description("mint a token for one of the demo's identities (prints only the token)")
    .requiredOption('--data-dir <dir>', 'the demo data directory')
    .requiredOption('--identity <name>', 'a demo identity name')
    .option('--ttl <duration>', 'lifetime, e.g. 10m or 1h', '10m')
    .action(tokenCommand);

  program
    .command('mcp-stdio')
    .description("serve MCP over stdio for local-process clients, forwarding to the gateway's /mcp endpoint")
    .requiredOption('--url <url>', 'the MCP endpoint, e.g. http://127.0.0.1:8080/mcp')
    .option('--token-command <command>', 'a shell command printing an access token; run again before expiry and on a 401')
    .addOption(new Option('--token <jwt>').hideHelp())
    .action(mcpStdioCommand);

  program
    .command('demo')
    .description('run a self-contained demo: sample database, development issuer, gateway')
    .addOption(new Option('--port <port>', 'Postgres port of the gateway').default(6432).argParser(portOption))
    .addOption(new Option('--http-port <port>', 'HTTP port of the gateway').default(8080).argParser(portOption))
    .option('--data-dir <dir>', 'where the demo keeps its state', './pgwarden-data')
    .option('--upstream <url>', 'use this PostgreSQL instead of the embedded one')
    .action(demoCommand);

  return program;
}

/** Run the command line (`argv` as in `process.argv`); resolves with the exit code. */
export async function runCli(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (err) {
    return report(err);
  }
}

function report(err: unknown): number {
  if (err instanceof CommanderError) {
    // Commander has already printed help, the version or its own message.
    return err.exitCode;
  }
  // A message may quote what a gateway, a database or a file said: escaped (terminal-text.ts).
  if (err instanceof ConfigError) {
    for (const problem of err.problems) process.stderr.write(`${visible(problem)}\n`);
    return 1;
  }
  if (err instanceof CliError || err instanceof GatewayError) {
    process.stderr.write(`pgwarden: ${visible(err.message)}\n`);
    return 1;
  }
  // Unexpected: still one line (stack traces are for PGWARDEN_DEBUG=1).
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`pgwarden: ${visible(message)}\n`);
  if (process.env.PGWARDEN_DEBUG === '1' && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  return 1;
}
