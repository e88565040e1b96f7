/**
 * QEMU prints a JSON object by walking its hash table: 512 buckets in order, and inside a bucket
 * the member inserted last first. Reproducing that order is what makes output byte-identical
 * (`{"return": ..., "id": ...}` but `{"id": ..., "error": ...}`).
 */
const BUCKETS = 512;
const utf8 = new TextEncoder();

/** The bucket QEMU's dictionary puts a key in. */
export function qemuKeyBucket(key: string): number {
  const bytes = utf8.encode(key);
  let value = Math.imul(0x238f13af, bytes.length) >>> 0;
  for (let i = 0; i < bytes.length; i++) {
    value = (value + ((bytes[i]! << ((i * 5) % 24)) >>> 0)) >>> 0;
  }
  return ((Math.imul(1103515243, value) + 12345) >>> 0) % BUCKETS;
}

/** Orders keys (given in insertion order) as QEMU would print them. */
export function qemuKeyOrder(keys: readonly string[]): string[] {
  return keys
    .map((key, index) => ({ key, index, bucket: qemuKeyBucket(key) }))
    .sort((a, b) => a.bucket - b.bucket || b.index - a.index)
    .map((entry) => entry.key);
}
