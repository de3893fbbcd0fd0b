#!/usr/bin/env node
// The `pgwarden` command. TypeScript sources run through tsx, so `npx pgwarden` works straight
// after `npm ci` with no build step.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../src/cli/index.ts');
process.exitCode = await runCli(process.argv);
