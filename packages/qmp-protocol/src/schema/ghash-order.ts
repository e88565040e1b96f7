/**
 * When an argument object carries several members the schema does not know, QEMU reports the
 * first one its GLib hash table yields. To name the same member, this models GLib's string hash
 * table (open addressing, quadratic probing, tombstones, prime moduli, in-place resize) for the
 * operations QEMU performs: insert every key, remove the ones the schema consumed, iterate.
 */
const MIN_SHIFT = 3;
const UNUSED = 0;
const TOMBSTONE = 1;
const PRIME_MOD = [
  1, 2, 3, 7, 13, 31, 61, 127, 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071, 262139, 524287,
  1048573, 2097143, 4194301, 8388593, 16777213, 33554393, 67108859, 134217689, 268435399, 536870909,
  1073741789, 2147483647,
];
const utf8 = new TextEncoder();

/** GLib's `g_str_hash` (djb2 over signed chars). */
export function gStrHash(key: string): number {
  let h = 5381;
  for (const b of utf8.encode(key)) h = (Math.imul(h, 33) + (b >= 0x80 ? b - 0x100 : b)) >>> 0;
  return h;
}

/** A set of strings that iterates in the same order as a GLib `GHashTable` with the same history. */
export class GHashKeySet {
  private size = 1 << MIN_SHIFT;
  private mod = PRIME_MOD[MIN_SHIFT]!;
  private mask = this.size - 1;
  private hashes: number[] = new Array(this.size).fill(UNUSED);
  private keys: (string | undefined)[] = new Array(this.size).fill(undefined);
  private nnodes = 0;
  private noccupied = 0;

  private toIndex(hash: number): number {
    return (Math.imul(hash, 11) >>> 0) % this.mod;
  }

  private lookup(key: string): { index: number; hash: number; found: boolean } {
    let hash = gStrHash(key);
    if (hash < 2) hash = 2;
    let index = this.toIndex(hash);
    let step = 0;
    let tombstone = -1;
    while (this.hashes[index] !== UNUSED) {
      if (this.hashes[index] === hash && this.keys[index] === key) return { index, hash, found: true };
      if (this.hashes[index] === TOMBSTONE && tombstone < 0) tombstone = index;
      step++;
      index = (index + step) & this.mask;
    }
    return { index: tombstone >= 0 ? tombstone : index, hash, found: false };
  }

  /** `g_hash_table_insert`. */
  add(key: string): void {
    const { index, hash, found } = this.lookup(key);
    if (found) return;
    const wasTombstone = this.hashes[index] === TOMBSTONE;
    this.hashes[index] = hash;
    this.keys[index] = key;
    this.nnodes++;
    if (!wasTombstone) {
      this.noccupied++;
      this.maybeResize();
    }
  }

  /** `g_hash_table_remove`. */
  delete(key: string): void {
    const { index, found } = this.lookup(key);
    if (!found) return;
    this.hashes[index] = TOMBSTONE;
    this.keys[index] = undefined;
    this.nnodes--;
    this.maybeResize();
  }

  /** Keys in GLib iteration order. */
  values(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.size; i++) if (this.hashes[i]! >= 2) out.push(this.keys[i]!);
    return out;
  }

  private maybeResize(): void {
    if (
      (this.size > this.nnodes * 4 && this.size > 1 << MIN_SHIFT) ||
      this.size <= this.noccupied + Math.floor(this.noccupied / 16)
    ) {
      this.resize();
    }
  }

  private resize(): void {
    const oldSize = this.size;
    let n = Math.floor(this.nnodes * 1.333);
    let shift = 0;
    while (n) {
      n >>= 1;
      shift++;
    }
    shift = Math.max(shift, MIN_SHIFT);
    this.size = 1 << shift;
    this.mod = PRIME_MOD[shift]!;
    this.mask = this.size - 1;
    const length = Math.max(this.size, oldSize);
    while (this.hashes.length < length) {
      this.hashes.push(UNUSED);
      this.keys.push(undefined);
    }
    const placed = new Array<boolean>(length).fill(false);
    for (let i = 0; i < oldSize; i++) {
      let hash = this.hashes[i]!;
      if (hash < 2) {
        this.hashes[i] = UNUSED;
        continue;
      }
      if (placed[i]) continue;
      this.hashes[i] = UNUSED;
      let key = this.keys[i];
      this.keys[i] = undefined;
      for (;;) {
        let index = this.toIndex(hash);
        let step = 0;
        while (placed[index]) {
          step++;
          index = (index + step) & this.mask;
        }
        placed[index] = true;
        const replacedHash = this.hashes[index]!;
        const replacedKey = this.keys[index];
        this.hashes[index] = hash;
        this.keys[index] = key;
        if (replacedHash < 2) break;
        hash = replacedHash;
        key = replacedKey;
      }
    }
    this.hashes.length = this.size;
    this.keys.length = this.size;
    this.noccupied = this.nnodes;
  }
}
