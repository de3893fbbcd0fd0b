/**
 * Reading the subject and the groups out of a verified claims set, as an issuer's configuration
 * says where they are. Pure.
 *
 * These functions only ever see claims whose signature has been checked; they MUST NOT be used on
 * the unverified payload of a token to make a decision.
 */

/** The first of `names` whose claim is a non-empty string, with the claim it came from. */
export function pickSubject(claims: Record<string, unknown>, names: readonly string[]): { claim: string; value: string } | undefined {
  for (const name of names) {
    const value = claims[name];
    if (typeof value === 'string' && value !== '') return { claim: name, value };
  }
  return undefined;
}

/**
 * The value at `path` in `claims`. A claim whose name is exactly `path` wins over a walk of the
 * dotted segments: namespaced claims such as `https://example.com/roles` contain dots themselves
 * (Auth0 requires them), while nested ones such as Keycloak's `realm_access.roles` do not.
 */
export function claimAt(claims: Record<string, unknown>, path: string): unknown {
  if (Object.hasOwn(claims, path)) return claims[path];
  let node: unknown = claims;
  for (const segment of path.split('.')) {
    if (node === null || typeof node !== 'object' || Array.isArray(node) || !Object.hasOwn(node, segment)) return undefined;
    node = (node as Record<string, unknown>)[segment];
  }
  return node;
}

/**
 * The groups at `path`: an array keeps its string members (anything else in it is dropped, so a
 * malformed entry can only ever take permissions away); a single string is one group, except for
 * a `scope` claim, which RFC 8693 (section 4.2) defines as space-separated; anything else is no
 * groups at all.
 */
export function pickGroups(claims: Record<string, unknown>, path: string): string[] {
  const value = claimAt(claims, path);
  if (Array.isArray(value)) return value.filter((g): g is string => typeof g === 'string' && g !== '');
  if (typeof value === 'string' && value !== '') {
    const isScope = path === 'scope' || path.endsWith('.scope');
    return isScope ? value.split(/\s+/).filter(Boolean) : [value];
  }
  return [];
}
