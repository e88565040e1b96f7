import { BlockError } from '../errors.js';
import type { DirtyBitmapStore } from './bitmap-store.js';
import { ImageFormatBitmapStore } from './image-format-store.js';

/** Longest bitmap name QEMU accepts (the qcow2 bitmap directory limit). */
export const MAX_BITMAP_NAME_LENGTH = 1023;

/** Which misuse checks {@link BdrvDirtyBitmap.check} applies (QEMU's BDRV_BITMAP_* flags). */
export interface BitmapCheck {
  busy?: boolean;
  readOnly?: boolean;
  inconsistent?: boolean;
}

/** The default check: a bitmap to be modified must be neither busy, read-only nor inconsistent. */
export const CHECK_DEFAULT: BitmapCheck = { busy: true, readOnly: true, inconsistent: true };
/** The check for operations that do not modify bits (enable, disable, merge sources). */
export const CHECK_ALLOW_READ_ONLY: BitmapCheck = { busy: true, inconsistent: true };

/** `query-named-block-nodes` / `query-block` shape of one bitmap. */
export interface BlockDirtyInfo {
  name?: string;
  count: number;
  granularity: number;
  recording: boolean;
  busy: boolean;
  persistent: boolean;
  inconsistent?: boolean;
}

/**
 * A dirty bitmap attached to a node: records which granules were written since it was
 * made or cleared. `busy` is set while a job or an export owns it; a bitmap with a
 * successor is frozen (the successor records new writes until the owner abdicates or
 * reclaims). Anonymous bitmaps (name null) belong to jobs and are hidden from queries.
 */
export class BdrvDirtyBitmap {
  enabled: boolean;
  busy = false;
  persistent: boolean;
  inconsistent: boolean;
  readOnly: boolean;
  successor: BdrvDirtyBitmap | null = null;
  /** Hidden bitmaps (being removed in a transaction) are not written back on close. */
  hidden = false;

  constructor(
    readonly name: string | null,
    public store: DirtyBitmapStore,
    options: { enabled?: boolean; persistent?: boolean; inconsistent?: boolean; readOnly?: boolean } = {},
  ) {
    this.enabled = options.enabled ?? true;
    this.persistent = options.persistent ?? false;
    this.inconsistent = options.inconsistent ?? false;
    this.readOnly = options.readOnly ?? false;
  }

  /** A fresh bitmap over image-format's bitmap storage. */
  static create(name: string | null, granularity: number, size: number): BdrvDirtyBitmap {
    return new BdrvDirtyBitmap(name, ImageFormatBitmapStore.create(granularity, size));
  }

  get granularity(): number {
    return this.store.granularity;
  }

  /** Whether writes are being recorded, by this bitmap or by its successor. */
  get recording(): boolean {
    return this.enabled || this.successor?.enabled === true;
  }

  /** Throws QEMU's error for the first failed check. */
  check(flags: BitmapCheck): void {
    const name = this.name ?? '';
    if (flags.busy && this.busy) {
      throw new BlockError(
        'in-use',
        `Bitmap '${name}' is currently in use by another operation and cannot be used`,
      );
    }
    if (flags.readOnly && this.readOnly) {
      throw new BlockError('read-only', `Bitmap '${name}' is readonly and cannot be modified`);
    }
    if (flags.inconsistent && this.inconsistent) {
      throw new BlockError('invalid-argument', `Bitmap '${name}' is inconsistent and cannot be used`);
    }
  }

  /** Records a write (only when enabled; the node calls this for every bitmap it holds). */
  markWrite(offset: number, length: number): void {
    if (this.enabled) this.store.set(offset, length);
    this.successor?.markWrite(offset, length);
  }

  /**
   * Freezes this bitmap and gives it a successor that records writes from now on (what a
   * backup does with its bitmap). The caller must later {@link abdicate} or {@link reclaim}.
   */
  createSuccessor(): BdrvDirtyBitmap {
    if (this.busy) {
      throw new BlockError('in-use', 'Cannot create a successor for a bitmap currently in-use');
    }
    if (this.successor) {
      throw new BlockError('in-use', 'Cannot create a successor for a bitmap that already has one');
    }
    const successor = new BdrvDirtyBitmap(
      null,
      ImageFormatBitmapStore.create(this.granularity, this.store.size),
      {
        enabled: this.enabled,
      },
    );
    this.enabled = false;
    this.successor = successor;
    this.busy = true;
    return successor;
  }

  /** Replaces this bitmap's bits by the successor's (a successful sync). */
  abdicate(): void {
    const successor = this.requireSuccessor();
    this.store = successor.store;
    this.enabled = successor.enabled;
    this.successor = null;
    this.busy = false;
  }

  /** Merges the successor back into this bitmap (a failed or cancelled sync). */
  reclaim(): void {
    const successor = this.requireSuccessor();
    this.store.mergeFrom(successor.store);
    this.enabled = successor.enabled;
    this.successor = null;
    this.busy = false;
  }

  info(): BlockDirtyInfo {
    const info: BlockDirtyInfo = {
      name: this.name ?? '',
      recording: this.recording,
      persistent: this.persistent,
      busy: this.busy,
      granularity: this.granularity,
      count: this.store.count(),
    };
    if (this.inconsistent) info.inconsistent = true;
    return info;
  }

  private requireSuccessor(): BdrvDirtyBitmap {
    if (!this.successor) throw new BlockError('invalid-argument', 'Bitmap has no successor');
    return this.successor;
  }
}
