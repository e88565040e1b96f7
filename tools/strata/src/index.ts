/** Placeholder entry point: this tool's library API arrives with its issue (see README.md). */
export const PACKAGE_STATUS = 'planned' as const;
