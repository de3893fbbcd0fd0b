/**
 * `pgwarden mcp-stdio`: an MCP stdio server forwarding to the gateway's `/mcp` endpoint, for MCP
 * clients that only launch local processes. Serves until its stdin ends.
 */
import { isLoopback } from '../config/index.ts';
import { CliError } from './common.ts';

export interface McpStdioOptions {
  url: string;
  token?: string;
  tokenCommand?: string;
}

export async function mcpStdioCommand(o: McpStdioOptions): Promise<void> {
  let url: URL;
  try {
    url = new URL(o.url);
  } catch {
    throw new CliError(`--url: not a URL: ${o.url}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError('--url must be an http:// or https:// address');
  // The bearer token goes with every request: never in clear text off the machine.
  if (url.protocol === 'http:' && !isLoopback(url.hostname.replace(/^\[|\]$/g, ''))) throw new CliError(`refusing to send a token in clear text to ${url.host}: use an https:// address`);
  // Standard input is the MCP channel here, so a fixed token comes from the environment only.
  if (o.token !== undefined) throw new CliError('a token on the command line is readable by every local user (ps, shell history): set PGWARDEN_TOKEN in the MCP client\'s env instead, or use --token-command');
  const token = process.env.PGWARDEN_TOKEN || undefined;
  if (token !== undefined && o.tokenCommand !== undefined) throw new CliError('set either PGWARDEN_TOKEN or --token-command, not both');
  if (token === undefined && o.tokenCommand === undefined) throw new CliError('pass --token-command "<command printing a token>" or set PGWARDEN_TOKEN');
  // Imported here so that other commands do not load the MCP SDK.
  const { runStdioBridge } = await import('../mcp/stdio-bridge.ts');
  try {
    await runStdioBridge({ url: url.href, token, tokenCommand: o.tokenCommand });
  } catch (err) {
    throw new CliError(err instanceof Error ? err.message : String(err));
  }
}
