import type { DirtyBitmap } from '@strata/image-format';
import { BdrvDirtyBitmap } from '../bitmap/dirty-bitmap.js';
import { ImageFormatBitmapStore } from '../bitmap/image-format-store.js';
import type { BlockNode } from '../graph/node.js';

/** What a qcow2 driver offers for the bitmaps stored in its image (image-format's PersistentBitmaps). */
export interface StoredBitmaps {
  list(): Array<{
    name: string;
    granularity: number;
    persistent: boolean;
    recording: boolean;
    inconsistent: boolean;
  }>;
  has(name: string): boolean;
  get(name: string): DirtyBitmap;
  add(name: string, options: { granularity?: number; persistent?: boolean; disabled?: boolean }): DirtyBitmap;
  remove(name: string): Promise<void>;
}

/** The stored bitmaps of a driver, when it has any. */
export function storedBitmaps(driver: unknown): StoredBitmaps | null {
  const bitmaps = (driver as { bitmaps?: unknown } | null)?.bitmaps;
  return bitmaps && typeof (bitmaps as Partial<StoredBitmaps>).list === 'function'
    ? (bitmaps as StoredBitmaps)
    : null;
}

/**
 * Takes the bitmaps stored in an image into the node: the node's bitmaps become the ones
 * that record writes (from every path into the node), and the image's copies stop
 * recording. Bitmaps found in use are imported as inconsistent (they can only be removed).
 */
export function importStoredBitmaps(node: BlockNode, stored: StoredBitmaps): void {
  for (const info of stored.list()) {
    const existing = node.bitmaps.find((b) => b.name === info.name);
    if (!info.inconsistent) stored.get(info.name).enabled = false;
    if (existing) continue;
    const store = info.inconsistent
      ? ImageFormatBitmapStore.create(info.granularity, node.length)
      : new ImageFormatBitmapStore(stored.get(info.name).copy());
    // Each loaded bitmap goes in front, as QEMU lists them: the last one in the directory first.
    node.bitmaps.unshift(
      new BdrvDirtyBitmap(info.name, store, {
        enabled: info.recording && !info.inconsistent,
        persistent: info.persistent,
        inconsistent: info.inconsistent,
        readOnly: node.readOnly,
      }),
    );
  }
}

/**
 * Writes the node's persistent bitmaps back into the image before it closes (the image
 * stores them on its clean close), and drops from the image those the node no longer has.
 * Inconsistent bitmaps the node still holds are left in the file untouched.
 */
export async function exportStoredBitmaps(node: BlockNode, stored: StoredBitmaps): Promise<void> {
  const keep = node.bitmaps.filter((b) => b.persistent && b.name !== null && !b.inconsistent);
  const untouched = new Set(node.bitmaps.filter((b) => b.inconsistent).map((b) => b.name));
  for (const info of stored.list()) {
    const wanted = keep.find((b) => b.name === info.name);
    if (untouched.has(info.name)) continue;
    if (!wanted || wanted.granularity !== info.granularity) await stored.remove(info.name);
  }
  for (const bitmap of keep) {
    const name = bitmap.name!;
    const target = stored.has(name)
      ? stored.get(name)
      : stored.add(name, { persistent: true, granularity: bitmap.granularity, disabled: !bitmap.enabled });
    target.clear();
    // A frozen bitmap (with a successor) is stored with what it will hold afterwards: its
    // own bits plus the successor's, as QEMU does when a job is still running at close.
    for (const source of [bitmap.store, ...(bitmap.successor ? [bitmap.successor.store] : [])]) {
      for (let at = 0, run = source.nextDirty(0); run; run = source.nextDirty(at)) {
        target.set(run.offset, run.length);
        at = run.offset + run.length;
      }
    }
    target.enabled = bitmap.recording;
  }
}
