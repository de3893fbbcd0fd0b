/**
 * Configuration: `pgwarden.yaml` → a validated, typed `GatewayConfig`.
 *
 * Flow: read the file → parse YAML with node positions → resolve `${env:NAME}` and
 * `${file:path}` in string values (`$${` is a literal `${`) → validate with the zod schema and the
 * cross-field rules (TLS off loopback, unique client database names, no passwords in URLs) →
 * either the config or a `ConfigError` whose `problems` read `file:line path: problem`.
 *
 * Problems never contain secret values. Reloading is the caller's job: load the file again and
 * keep the running config when this throws.
 */
export { ConfigError } from './config-error.ts';
export { loadConfigFile, parseConfig } from './load.ts';
export { parseYamlFile, type YamlFile } from './yaml-file.ts';
export { configJsonSchema, configJsonSchemaText } from './json-schema.ts';
export type { Problem } from './issues.ts';
export { databaseRoutes } from './routes.ts';
export { hostOf, isLoopback } from './checks.ts';
export { configDiff, SECRET, type ConfigChange, type ConfigDiff } from './diff.ts';
export { isWildcardHost, mcpResourceUrl, type PublicUrlInput } from './public-url.ts';
export {
  configSchema,
  issuerSchema,
  upstreamSchema,
  parseDuration,
  type GatewayConfig,
  type IssuerConfig,
  type UpstreamConfig,
} from './schema.ts';
