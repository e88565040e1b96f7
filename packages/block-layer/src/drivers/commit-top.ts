import { FilterNode } from './filter-node.js';

/**
 * The filter an intermediate commit puts above its top node (driver `commit_top`, child
 * role `backing`): reads pass through to the chain below, and the overlay above keeps
 * seeing the same data while the chain is copied down into the base.
 */
export class CommitTopFilter extends FilterNode {
  readonly driver = 'commit_top';
  readonly filteredRole = 'backing' as const;
}
