/**
 * The file types a release may carry, and how the newsroom serves each: shown in the browser
 * (images, PDF) or only downloaded. Anything else is refused at upload, so no file of ours can be
 * served as a page, a script or a plug-in of this site; every file also goes out with nosniff and
 * a sandboxing policy.
 */
export const FILE_TYPES: Record<string, 'inline' | 'attachment'> = {
  'application/pdf': 'inline',
  'image/png': 'inline',
  'image/jpeg': 'inline',
  'image/gif': 'inline',
  'image/webp': 'inline',
  'text/plain': 'attachment',
  'text/csv': 'attachment',
  'application/zip': 'attachment',
  'application/msword': 'attachment',
  'application/vnd.ms-excel': 'attachment',
  'application/vnd.ms-powerpoint': 'attachment',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 'attachment',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 'attachment',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': 'attachment',
  'application/vnd.oasis.opendocument.text': 'attachment',
  'application/vnd.oasis.opendocument.spreadsheet': 'attachment',
  'application/vnd.oasis.opendocument.presentation': 'attachment',
  'audio/mpeg': 'attachment',
  'video/mp4': 'attachment',
};

/** How a stored file goes out: its allowed type (text with its charset), or bytes to download for anything older. */
export function servedAs(contentType: string): { type: string; disposition: 'inline' | 'attachment' } {
  const disposition = FILE_TYPES[contentType];
  if (!disposition) return { type: 'application/octet-stream', disposition: 'attachment' };
  return { type: contentType.startsWith('text/') ? `${contentType}; charset=utf-8` : contentType, disposition };
}
