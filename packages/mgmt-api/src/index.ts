/**
 * Placeholder entry point: this package's API arrives with its issue. See README.md for
 * what is to come.
 */
export const PACKAGE_STATUS = 'planned' as const;
