// The one formatter of zod errors: every config, preset, flag, task segment and mixer-parameter error the user
// sees is a single line "where: message" built here (z.prettifyError writes several lines, one per issue).
import type { z } from 'zod';

export interface ZodTextOptions {
  /** Written before an issue's path, e.g. "data.train[0]." */
  pathPrefix?: string;
  /** Names the place of an issue without a path, e.g. "(top level)"; absent: such an issue is its message alone. */
  top?: string;
  /** Every issue, joined with "; " (default: the first one only). */
  all?: boolean;
}

/** One line describing a zod error: "seqLen: Invalid input: expected number" (newlines in messages become spaces). */
export function zodErrorText(error: z.ZodError, opts: ZodTextOptions = {}): string {
  const issues = opts.all ? error.issues : error.issues.slice(0, 1);
  return issues
    .map((issue) => {
      const path = issue.path.map(String).join('.');
      const where = path || opts.top;
      return where === undefined ? issue.message : `${opts.pathPrefix ?? ''}${where}: ${issue.message}`;
    })
    .join('; ')
    .replace(/\s*\n\s*/g, ' ');
}
