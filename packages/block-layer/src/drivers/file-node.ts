import { HostFile, type BlockStatusExtent, type ImageFile } from '@strata/image-format';
import type { BlockEdge } from '../graph/edge.js';
import { BlockNode, type ImageInfo } from '../graph/node.js';
import type { PermissionClaim } from '../graph/permissions.js';

/** Reopens the file under a node with other access (read-only ↔ read-write). */
export type FileReopener = (current: ImageFile, readOnly: boolean) => Promise<ImageFile>;

/** Host files are reopened by path; other files (memory) keep their handle. */
const defaultReopener: FileReopener = async (current, readOnly) => {
  if (current instanceof HostFile) {
    const reopened = await HostFile.open(current.path, { readOnly });
    await current.close();
    return reopened;
  }
  return current;
};

/**
 * The `file` protocol node: bytes of a host file (or any {@link ImageFile}). Like QEMU's
 * file-posix it grows on writes past the end and reads zeroes there, so format drivers
 * can append clusters; bounds are checked by the format node above.
 */
export class FileNode extends BlockNode {
  readonly driver = 'file';
  private size: number;

  private constructor(
    name: string,
    private handle: ImageFile,
    size: number,
    private readonly reopener: FileReopener,
  ) {
    super(name, handle.readOnly);
    this.size = size;
  }

  static async open(
    name: string,
    file: ImageFile,
    reopener: FileReopener = defaultReopener,
  ): Promise<FileNode> {
    return new FileNode(name, file, await file.size(), reopener);
  }

  /** The file below, for adapters that need it. */
  get imageFile(): ImageFile {
    return this.handle;
  }

  get length(): number {
    return this.size;
  }

  get filename(): string {
    return this.handle.path;
  }

  protected override get boundsChecked(): boolean {
    return false;
  }

  childClaim(_edge: BlockEdge, cumulative: PermissionClaim): PermissionClaim {
    return cumulative;
  }

  protected async doRead(buf: Uint8Array, offset: number): Promise<void> {
    const n = await this.handle.read(buf, offset);
    if (n < buf.length) buf.fill(0, n);
  }

  protected async doWrite(buf: Uint8Array, offset: number): Promise<void> {
    await this.handle.write(buf, offset);
    this.size = Math.max(this.size, offset + buf.length);
  }

  protected async doWriteZeroes(offset: number, length: number): Promise<void> {
    // Written in bounded pieces so a huge request does not allocate a huge buffer.
    const piece = new Uint8Array(Math.min(length, 1 << 20));
    for (let done = 0; done < length; done += piece.length) {
      const n = Math.min(piece.length, length - done);
      await this.handle.write(n === piece.length ? piece : piece.subarray(0, n), offset + done);
    }
    this.size = Math.max(this.size, offset + length);
  }

  protected async doDiscard(): Promise<void> {
    // Discard is advisory; a plain file keeps its data (QEMU may punch holes, which reads the same).
  }

  protected async doFlush(): Promise<void> {
    await this.handle.flush();
  }

  protected async doBlockStatus(offset: number, length: number): Promise<BlockStatusExtent[]> {
    return [{ offset, length, status: 'data', hostOffset: offset }];
  }

  protected override async doResize(size: number): Promise<void> {
    await this.handle.truncate(size);
    this.size = size;
  }

  override async reopen(readOnly: boolean): Promise<void> {
    if (readOnly === this.readOnly) return;
    if (!readOnly) this.handle = await this.reopener(this.handle, false);
    else {
      await this.handle.flush();
      this.handle = await this.reopener(this.handle, true);
    }
    this.readOnly = readOnly;
  }

  override async close(): Promise<void> {
    await this.handle.close();
  }

  imageInfo(): ImageInfo {
    return {
      'virtual-size': this.size,
      filename: this.filename,
      format: 'file',
      'actual-size': this.size,
      'dirty-flag': false,
    };
  }
}
