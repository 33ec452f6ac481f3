/**
 * Minimal path globbing for log paths (Node 20 has no fs.glob).
 *
 * Contract: `*`, `?` and `[...]` / `[!...]` match within one path segment (never across "/"), as
 * in the shell; a wildcard does not match a leading "." of a name. There is no `**` and no braces.
 * expandGlob() returns the regular files (symlinks followed) that match, sorted, and every existing
 * directory it read, so a caller can watch exactly those for new matches; matches that exist but are
 * not regular files (FIFO, socket, device, directory) are listed apart, with their type, never in
 * `files`. Unreadable or vanishing directories are skipped, never thrown.
 */
import { readdir, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve, sep } from 'node:path';
import { fileTypeName } from './file-follower.js';

export function hasMagic(pattern: string): boolean {
  return /[*?[]/.test(pattern);
}

/** The regular expression for one glob segment. */
export function segmentRegExp(segment: string): RegExp {
  let re = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const close = segment.indexOf(']', i + 2);
      if (close === -1) {
        re += '\\[';
        continue;
      }
      let body = segment.slice(i + 1, close);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      re += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = close;
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  const noLeadingDot = segment.startsWith('.') ? '' : '(?!\\.)';
  return new RegExp(`^${noLeadingDot}${re}$`);
}

export interface GlobExpansion {
  /** Matching regular files, absolute, sorted. */
  readonly files: string[];
  /** Directories read while expanding (where new matches would appear). */
  readonly dirs: string[];
  /** Full matches that are not regular files (never followed), with their type in words, sorted. */
  readonly refused: { readonly path: string; readonly type: string }[];
}

export async function expandGlob(pattern: string): Promise<GlobExpansion> {
  const abs = isAbsolute(pattern) ? pattern : resolve(pattern);
  const segments = abs.split(sep).filter((s) => s.length > 0);
  const files: string[] = [];
  const dirs: string[] = [];
  const refused: { path: string; type: string }[] = [];
  let bases: string[] = [sep];
  for (const [idx, seg] of segments.entries()) {
    const last = idx === segments.length - 1;
    const next: string[] = [];
    if (!hasMagic(seg)) {
      for (const b of bases) next.push(join(b, seg));
    } else {
      const re = segmentRegExp(seg);
      for (const b of bases) {
        let names: string[];
        try {
          names = await readdir(b);
        } catch {
          continue;
        }
        dirs.push(b);
        for (const n of names) if (re.test(n)) next.push(join(b, n));
      }
    }
    bases = [];
    for (const p of next) {
      try {
        const st = await stat(p);
        if (last ? st.isFile() : st.isDirectory()) bases.push(p);
        else if (last) refused.push({ path: p, type: fileTypeName(st) });
      } catch {
        // vanished or dangling: not a match
      }
    }
    if (bases.length === 0) break;
    if (last) files.push(...bases);
  }
  refused.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { files: files.sort(), dirs: [...new Set(dirs)].sort(), refused };
}

/** Does a concrete path match a pattern, segment by segment (both made absolute)? */
export function matchesGlob(pattern: string, path: string): boolean {
  const ps = (isAbsolute(pattern) ? pattern : resolve(pattern)).split(sep).filter((s) => s.length > 0);
  const xs = (isAbsolute(path) ? path : resolve(path)).split(sep).filter((s) => s.length > 0);
  if (ps.length !== xs.length) return false;
  return ps.every((seg, i) => (hasMagic(seg) ? segmentRegExp(seg).test(xs[i]!) : seg === xs[i]));
}
