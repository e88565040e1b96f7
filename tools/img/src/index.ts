/** Placeholder: the library behind strata-img and strata-io. */
export const PACKAGE_STATUS = 'planned' as const;
