// A minimal POSIX ustar writer: enough for data-subject export archives (a JSON file plus the
// attachments), readable by `tar`, 7-Zip and Windows Explorer's tar support. Names are UTF-8;
// longer ones use the ustar prefix field or a PAX header.
import { createHash } from 'node:crypto';

const BLOCK = 512;

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function header(name: string, size: number, mtime: Date, type: '0' | 'x'): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(0o644, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(Math.floor(mtime.getTime() / 1000), 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(type, 156, 'ascii');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148, 'ascii');
  return h;
}

function pad(n: number): Buffer {
  return Buffer.alloc((BLOCK - (n % BLOCK)) % BLOCK);
}

function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len)
    len = String(len).length + Buffer.byteLength(body);
  return Buffer.from(`${len}${body}`, 'utf8');
}

export interface TarEntry {
  name: string;
  data: Buffer;
  mtime?: Date;
}

/** The whole archive in memory (data-subject exports are one person's data). */
export function createTar(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const mtime = e.mtime ?? new Date();
    let name = e.name;
    if (Buffer.byteLength(name) > 99 || /[^\x20-\x7e]/.test(name)) {
      const pax = paxRecord('path', e.name);
      parts.push(
        header(
          `PaxHeader/${createHash('sha1').update(e.name).digest('hex').slice(0, 16)}`,
          pax.length,
          mtime,
          'x',
        ),
      );
      parts.push(pax, pad(pax.length));
      name = `file-${createHash('sha1').update(e.name).digest('hex').slice(0, 16)}`;
    }
    parts.push(header(name, e.data.length, mtime, '0'), e.data, pad(e.data.length));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}
