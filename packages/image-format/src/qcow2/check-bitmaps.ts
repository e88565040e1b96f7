import type { ImageFile } from '../image-file.js';
import { type BitmapDirectoryEntry, decodeBitmapTableEntry } from './bitmaps-directory.js';

/** Where {@link countBitmapReferences} reports what it finds. */
export interface BitmapReferenceSink {
  reference(offset: number, length: number): void;
  corruption(message: string): void;
}

/**
 * Adds the references held by persistent bitmaps: each bitmap table, and each data
 * cluster a table entry points at. Entries that are invalid count as corruptions and are
 * not followed.
 */
export async function countBitmapReferences(
  file: ImageFile,
  entries: readonly BitmapDirectoryEntry[],
  clusterSize: number,
  sink: BitmapReferenceSink,
): Promise<void> {
  for (const bitmap of entries) {
    sink.reference(bitmap.tableOffset, bitmap.tableSize * 8);
    const bytes = new Uint8Array(bitmap.tableSize * 8);
    await file.read(bytes, bitmap.tableOffset);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < bitmap.tableSize; i++) {
      const decoded = decodeBitmapTableEntry(view.getBigUint64(i * 8), clusterSize);
      if (typeof decoded === 'string') {
        sink.corruption(`ERROR bitmap '${bitmap.name}': ${decoded}`);
        continue;
      }
      if (decoded.kind === 'data') sink.reference(decoded.offset, clusterSize);
    }
  }
}
