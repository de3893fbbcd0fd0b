#!/usr/bin/env node
// The `pgwarden` command. TypeScript sources run through tsx, so `npx pgwarden` works straight
// after `npm ci` with no build step.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../src/cli/index.ts');
const code = await runCli(process.argv);
process.exitCode = code;
// A command that failed is over: nothing it opened before failing (a connection, a timer) keeps
// the process alive. The timer does not hold it up when nothing else does.
if (code !== 0) setTimeout(() => process.exit(code), 1000).unref();
