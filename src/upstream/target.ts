/** Build the connection target for a configured upstream. */
import type { UpstreamConfig } from './schema.ts';
import { targetFromUrl, type UpstreamTarget } from './connect.ts';

export function targetFor(name: string, upstream: UpstreamConfig): UpstreamTarget {
  return targetFromUrl(name, upstream.url, {
    password: upstream.password,
    tls: upstream.tls,
    connectTimeoutMs: upstream.connect_timeout,
  });
}
