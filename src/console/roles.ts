/** Console roles from a human's groups. `admin` implies `auditor` and `approver`. */
import type { ConsoleConfig } from './schema.ts';

export type ConsoleRole = 'auditor' | 'approver' | 'admin';

export const ROLES: readonly ConsoleRole[] = ['auditor', 'approver', 'admin'];

export function rolesFor(groups: readonly string[], roles: ConsoleConfig['roles']): Set<ConsoleRole> {
  const out = new Set<ConsoleRole>();
  for (const role of ROLES) if (groups.some((g) => roles[role].includes(g))) out.add(role);
  if (out.has('admin')) {
    out.add('auditor');
    out.add('approver');
  }
  return out;
}
