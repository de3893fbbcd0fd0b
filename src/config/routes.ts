import type { GatewayConfig } from './schema.ts';

/**
 * Client-facing database name → upstream key. An upstream serves the names in its `databases`,
 * or its own key when that is absent. Names are unique across upstreams (checked at load).
 */
export function databaseRoutes(config: GatewayConfig): Map<string, string> {
  const routes = new Map<string, string>();
  for (const [key, upstream] of Object.entries(config.upstreams)) {
    for (const name of upstream.databases ?? [key]) {
      if (!routes.has(name)) routes.set(name, key);
    }
  }
  return routes;
}
