/**
 * mcp/ — pgwarden as an MCP server, governed by the same engine as the wire endpoint.
 *
 * HTTP request ─► endpoint.ts (`/mcp`, Streamable HTTP, stateful sessions bound to an identity)
 *   ─► auth.ts (bearer token → TokenVerifier → audience bound to the resource URL; 401 with the
 *      protected resource metadata link) ─► tools.ts (one internal session per tool call:
 *      `openInternal(identity, database, { via: 'mcp', applicationName: 'mcp:<tool>:<session>' })`)
 *   ─► wire-client.ts (Parse / Bind / Describe / Execute / Sync over the in-memory channel: the
 *      session pipeline decides, masks and audits exactly as for a wire client) ─► values.ts (rows
 *      as objects with type names). scope-view.ts hides the catalog rows the policy would refuse
 *      and marks masked columns.
 *
 * stdio-bridge.ts is the other direction: an MCP stdio server for local-process clients that
 * forwards every message to the HTTP endpoint with a token it refreshes by running a command.
 */
export { createMcpEndpoint, type McpEndpoint, type McpEndpointDeps, type McpSettings } from './endpoint.ts';
export { metadataUrl, resourceMetadata, type ResourceSettings } from './auth.ts';
export { createScopeView, type ScopeView, type ScopeViewDeps } from './scope-view.ts';
export type { ToolDeps } from './tools.ts';
export { runStdioBridge, type StdioBridgeOptions } from './stdio-bridge.ts';
