import type { Role } from '../api/types';

export type Permission =
  | 'search'
  | 'feedback'
  | 'export'
  | 'verify'
  | 'manage-alerts'
  | 'run-jobs'
  | 'manage-users';

const GRANTS: Record<Role, Permission[]> = {
  admin: ['search', 'feedback', 'export', 'verify', 'manage-alerts', 'run-jobs', 'manage-users'],
  analyst: ['search', 'feedback', 'export'],
  auditor: ['export', 'verify'],
  viewer: [],
};

export function can(role: Role | undefined, permission: Permission): boolean {
  return role ? GRANTS[role]?.includes(permission) ?? false : false;
}
