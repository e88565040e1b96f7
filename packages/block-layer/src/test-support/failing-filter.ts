import { PassThroughFilter } from '../drivers/filter-node.js';

/** A pass-through filter whose next `failures` reads fail with EIO (like QEMU's blkdebug). */
export class FailingFilter extends PassThroughFilter {
  failures = 0;
  failedReads = 0;

  constructor(name: string) {
    super('blkdebug', name, { role: 'file' });
  }

  protected override async doRead(buf: Uint8Array, offset: number): Promise<void> {
    if (this.failures > 0) {
      this.failures--;
      this.failedReads++;
      throw Object.assign(new Error('Input/output error'), { code: 'EIO' });
    }
    return super.doRead(buf, offset);
  }
}
