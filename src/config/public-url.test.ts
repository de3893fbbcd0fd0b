import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mcpResourceUrl, type PublicUrlInput } from './public-url.ts';

describe('the MCP resource URL', () => {
  const base: PublicUrlInput = { httpHosts: [], listenHost: '127.0.0.1', listenPort: 8080, scheme: 'http' };
  const cases: { name: string; input: Partial<PublicUrlInput>; expected: string | undefined }[] = [
    { name: 'is mcp.resource when set', input: { mcpResource: 'https://gw.example.com/pg/mcp', listenHost: '0.0.0.0' }, expected: 'https://gw.example.com/pg/mcp' },
    { name: "is the console's public origin with /mcp", input: { consolePublicUrl: 'https://gw.example.com/console-ignored', listenHost: '0.0.0.0' }, expected: 'https://gw.example.com/mcp' },
    { name: 'is the first listen.http_hosts name', input: { httpHosts: ['gw.internal:8080', 'other'], listenHost: '0.0.0.0' }, expected: 'http://gw.internal:8080/mcp' },
    { name: 'is the listen address off a wildcard', input: {}, expected: 'http://127.0.0.1:8080/mcp' },
    { name: 'brackets an IPv6 listen address', input: { listenHost: '::1', scheme: 'https' }, expected: 'https://[::1]:8080/mcp' },
    { name: 'is none on 0.0.0.0 without a public URL', input: { listenHost: '0.0.0.0' }, expected: undefined },
    { name: 'is none on :: without a public URL', input: { listenHost: '::' }, expected: undefined },
  ];
  for (const c of cases) it(c.name, () => assert.equal(mcpResourceUrl({ ...base, ...c.input }), c.expected));
});
