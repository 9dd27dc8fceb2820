// Decides what an uploaded file is from its bytes (never from its name or the client's claim)
// and whether Parley accepts it. Images are shown inline; everything else is served as a
// download. HTML, SVG, XML and scripts are refused outright, whatever they are called.
import { fileTypeFromBuffer } from 'file-type';
import { BadRequestError } from '../../platform/errors.ts';
import { truncateText, withoutUnstorable } from '../../realtime/text-rules.ts';

const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/bmp']);
const FILE_TYPES = new Set([
  'application/pdf',
  'application/zip',
  // Office Open XML (file-type looks inside the zip) and the legacy compound-file formats.
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation',
  'application/x-cfb',
  'application/vnd.oasis.opendocument.text',
  'application/vnd.oasis.opendocument.spreadsheet',
  'application/vnd.oasis.opendocument.presentation',
]);
const IMAGE_EXTENSIONS = /\.(png|jpe?g|gif|webp|bmp|svg|ico|tiff?)$/i;
const MARKUP = /<\s*(!doctype|html|head|body|script|svg|iframe|object|embed|meta|style|\?xml|a\s)/i;

export interface SniffedFile {
  contentType: string;
  kind: 'image' | 'file';
}

function looksLikePlainText(data: Buffer): boolean {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch {
    return false;
  }
  // Control characters other than tab, newline, carriage return and form feed: not text.
  // eslint-disable-next-line no-control-regex
  return !/[\u0000-\u0008\u000B\u000E-\u001F\u007F]/.test(text);
}

/** Throws 400 naming the problem when the file is not acceptable. */
export async function sniffUpload(data: Buffer, fileName: string): Promise<SniffedFile> {
  if (data.length === 0) throw new BadRequestError('file: is empty', 'file');
  const detected = await fileTypeFromBuffer(data);
  if (detected) {
    if (IMAGE_TYPES.has(detected.mime)) return { contentType: detected.mime, kind: 'image' };
    if (FILE_TYPES.has(detected.mime)) {
      if (IMAGE_EXTENSIONS.test(fileName)) {
        throw new BadRequestError(`file: named like an image but its content is ${detected.mime}`, 'file');
      }
      return { contentType: detected.mime, kind: 'file' };
    }
    throw new BadRequestError(`file: files of type ${detected.mime} are not accepted`, 'file');
  }
  // No binary signature: only plain text is accepted, and never markup (HTML, SVG, XML).
  if (!looksLikePlainText(data)) throw new BadRequestError('file: this type of file is not accepted', 'file');
  if (MARKUP.test(data.subarray(0, 64 * 1024).toString('utf8'))) {
    throw new BadRequestError('file: HTML, SVG and XML files are not accepted', 'file');
  }
  if (IMAGE_EXTENSIONS.test(fileName)) {
    throw new BadRequestError('file: named like an image but its content is text', 'file');
  }
  return { contentType: 'text/plain; charset=utf-8', kind: 'file' };
}

/** A file name safe to echo in Content-Disposition (RFC 6266 with a UTF-8 fallback). */
export function contentDisposition(kind: 'inline' | 'attachment', fileName: string): string {
  const ascii = fileName.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(fileName)}`;
}

/**
 * The stored name of an upload: no path, no control characters, nothing PostgreSQL cannot store
 * (NUL, a lone surrogate), at most 200 characters (code points: an emoji is never cut in half).
 * Names are cleaned, not refused: the file itself is what the sender meant to send.
 */
export function cleanFileName(name: string | undefined): string {
  const base = (name ?? 'file').split(/[\\/]/).pop() ?? 'file';
  const cleaned = truncateText(
    withoutUnstorable(base)
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u001f\u007f]/g, '')
      .trim(),
    200,
  );
  return cleaned || 'file';
}

export function isInlineImage(contentType: string): boolean {
  return IMAGE_TYPES.has(contentType);
}
