// File uploads with progress: fetch cannot report upload progress, XMLHttpRequest can. Errors are
// the same ApiError the rest of the console sees (status 0 = the network, code 'aborted' = the
// user cancelled).
import { ApiError, errorFromResponse } from '../api/client.ts';
import type { SendAck } from '../api/types.ts';

export interface UploadHandle {
  promise: Promise<SendAck>;
  abort(): void;
}

export function uploadFile(url: string, file: File, onProgress: (fraction: number) => void): UploadHandle {
  const xhr = new XMLHttpRequest();
  const promise = new Promise<SendAck>((resolve, reject) => {
    xhr.open('POST', url);
    xhr.withCredentials = true;
    xhr.setRequestHeader('accept', 'application/json');
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total);
    });
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(JSON.parse(xhr.responseText) as SendAck);
        } catch {
          reject(new ApiError(xhr.status, 'internal', 'unreadable answer'));
        }
        return;
      }
      const headers = new Headers();
      for (const name of ['x-request-id', 'retry-after']) {
        const v = xhr.getResponseHeader(name);
        if (v) headers.set(name, v);
      }
      void errorFromResponse(new Response(xhr.responseText, { status: xhr.status, headers })).then(reject);
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'network', 'network error')));
    xhr.addEventListener('abort', () => reject(new ApiError(0, 'aborted', 'upload cancelled')));
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}
