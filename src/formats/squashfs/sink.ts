// Where an image goes. The superblock sits at offset 0 but names table
// positions that are only known at the end, so the writer appends everything
// else and then overwrites the first 96 bytes: the sink must allow that one
// write back. A file does; a plain stream does not (see writeSquashfsToStream).

import { promises as fs } from 'node:fs';

export interface SeekableSink {
  /** Appends bytes at the end. */
  write(data: Buffer): Promise<void>;
  /** Overwrites bytes that were already written. */
  writeAt(position: number, data: Buffer): Promise<void>;
  close(): Promise<void>;
}

export class FileSink implements SeekableSink {
  private position = 0;

  private constructor(private readonly handle: fs.FileHandle) {}

  /** Creates (or truncates) the file. */
  static async create(path: string): Promise<FileSink> {
    return new FileSink(await fs.open(path, 'w'));
  }

  async write(data: Buffer): Promise<void> {
    await this.writeAt(this.position, data);
    this.position += data.length;
  }

  async writeAt(position: number, data: Buffer): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.handle.write(data, done, data.length - done, position + done);
      done += bytesWritten;
    }
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
