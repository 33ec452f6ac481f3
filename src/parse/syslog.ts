/**
 * Syslog framing around an access line, as Docker's `syslog` log driver sends it and as a syslogd
 * writes it to a file:
 *
 *   <30>Nov 23 09:35:48 web[812]: MSG                          Docker default (RFC 3164, no hostname)
 *   <30>Nov 23 09:35:48 host web[812]: MSG                     rfc3164
 *   Nov  3 09:35:48 host web[812]: MSG                         a syslogd's file (no PRI)
 *   2026-11-23T09:35:48.123456+00:00 host web[812]: MSG        rsyslog high-precision file format
 *   <30>1 2026-11-23T09:35:48.123Z host web 812 web - MSG      rfc5424 (Docker puts the tag in MSGID too)
 *
 * parseSyslogFrame() finds where MSG starts and the tag (RFC 5424 APP-NAME), which becomes the event's
 * origin; the header's own timestamp is only checked for shape, the access line carries the request
 * time. It returns null when the line starts like syslog but the framing is broken ('bad-wrapper').
 * looksLikeSyslog() is the cheap per-line test used by `auto`. Neither throws.
 */

export interface SyslogFrame {
  /** Index in the line where the message (the access line) starts. */
  readonly msgStart: number;
  /** The tag / APP-NAME without `[pid]`, or undefined when absent or '-'. */
  readonly tag: string | undefined;
}

const MONTHS = 'JanFebMarAprMayJunJulAugSepOctNovDec';

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** `Mmm` at i followed by a space. */
function isMonthAt(line: string, i: number): boolean {
  if (line.charCodeAt(i + 3) !== 32) return false;
  const m = MONTHS.indexOf(line.slice(i, i + 3));
  return m >= 0 && m % 3 === 0;
}

/** `dddd-dd-ddT` at i (an RFC 3339 timestamp). */
function isIsoDateAt(line: string, i: number): boolean {
  return (
    isDigit(line.charCodeAt(i)) &&
    isDigit(line.charCodeAt(i + 1)) &&
    isDigit(line.charCodeAt(i + 2)) &&
    isDigit(line.charCodeAt(i + 3)) &&
    line.charCodeAt(i + 4) === 45 &&
    isDigit(line.charCodeAt(i + 5)) &&
    isDigit(line.charCodeAt(i + 6)) &&
    line.charCodeAt(i + 7) === 45 &&
    isDigit(line.charCodeAt(i + 8)) &&
    isDigit(line.charCodeAt(i + 9)) &&
    line.charCodeAt(i + 10) === 84
  );
}

/** Does the line start with a syslog header (`<digits>`, `Mmm `, or an RFC 3339 date)? */
export function looksLikeSyslog(line: string, start = 0): boolean {
  const c = line.charCodeAt(start);
  if (c === 60) return isDigit(line.charCodeAt(start + 1)); // '<'
  if (c >= 65 && c <= 83) return isMonthAt(line, start); // 'A'..'S'
  return isIsoDateAt(line, start);
}

/** `Mmm dd hh:mm:ss ` (day space-padded or not) at i; index after the trailing space, or -1. */
function skipBsdTimestamp(line: string, i: number, end: number): number {
  if (!isMonthAt(line, i)) return -1;
  i += 4;
  if (line.charCodeAt(i) === 32) i++;
  if (!isDigit(line.charCodeAt(i))) return -1;
  i++;
  if (isDigit(line.charCodeAt(i))) i++;
  if (line.charCodeAt(i) !== 32) return -1;
  i++;
  if (
    !isDigit(line.charCodeAt(i)) ||
    !isDigit(line.charCodeAt(i + 1)) ||
    line.charCodeAt(i + 2) !== 58 ||
    !isDigit(line.charCodeAt(i + 3)) ||
    !isDigit(line.charCodeAt(i + 4)) ||
    line.charCodeAt(i + 5) !== 58 ||
    !isDigit(line.charCodeAt(i + 6)) ||
    !isDigit(line.charCodeAt(i + 7)) ||
    line.charCodeAt(i + 8) !== 32
  ) {
    return -1;
  }
  return i + 9 <= end ? i + 9 : -1;
}

/** An RFC 3339 timestamp at i; index after the following space, or -1. */
function skipIsoTimestamp(line: string, i: number, end: number): number {
  if (!isIsoDateAt(line, i)) return -1;
  const sp = line.indexOf(' ', i);
  return sp < 0 || sp >= end ? -1 : sp + 1;
}

/** `tag[pid]:` / `tag:` → tag; undefined for an empty tag. */
function tagOf(line: string, s: number, colon: number): string | undefined {
  let e = colon;
  if (line.charCodeAt(e - 1) === 93) {
    const b = line.lastIndexOf('[', e - 1);
    if (b >= s) e = b;
  }
  return e > s ? line.slice(s, e) : undefined;
}

/** After an RFC 3164 timestamp: `[host ]tag[pid]: MSG`. */
function parseBsdRest(line: string, i: number, end: number): SyslogFrame | null {
  const sp1 = line.indexOf(' ', i);
  const e1 = sp1 < 0 || sp1 > end ? end : sp1;
  if (e1 > i && line.charCodeAt(e1 - 1) === 58) {
    return { msgStart: Math.min(e1 + 1, end), tag: tagOf(line, i, e1 - 1) };
  }
  if (sp1 < 0 || sp1 >= end) return null;
  const t = sp1 + 1;
  const sp2 = line.indexOf(' ', t);
  const e2 = sp2 < 0 || sp2 > end ? end : sp2;
  if (e2 > t && line.charCodeAt(e2 - 1) === 58) {
    return { msgStart: Math.min(e2 + 1, end), tag: tagOf(line, t, e2 - 1) };
  }
  return null;
}

/**
 * After `<PRI>1 `: TIMESTAMP HOST APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]. The TIMESTAMP must be
 * one: `-` or an RFC 3339 date (RFC 5424 6.2.3, upper-case `T`). An access line in the host layout
 * starts with nginx's `$host`, the client's Host header (lower-cased, without spaces since nginx
 * 1.21.1), and goes on with the peer's address and the Basic-auth user name: with any token taken
 * for the timestamp, `Host: <134>1` and a user name `a b c - 198.18.0.9 - -` made that line a
 * well-formed RFC 5424 message whose MSG blamed 198.18.0.9. An address is never a timestamp.
 */
function parse5424Rest(line: string, i: number, end: number): SyslogFrame | null {
  let tag: string | undefined;
  if (!(line.charCodeAt(i) === 45 && line.charCodeAt(i + 1) === 32) && !isIsoDateAt(line, i)) return null;
  for (let field = 0; field < 5; field++) {
    const sp = line.indexOf(' ', i);
    if (sp <= i || sp >= end) return null;
    if (field === 2 && !(sp === i + 1 && line.charCodeAt(i) === 45)) tag = line.slice(i, sp);
    i = sp + 1;
  }
  // STRUCTURED-DATA: '-' or one or more [id param="value" …]; `\]`, `\"` and `\\` escape inside values.
  if (line.charCodeAt(i) === 45) {
    i++;
  } else if (line.charCodeAt(i) === 91) {
    let inValue = false;
    for (;;) {
      if (i >= end) return null;
      const c = line.charCodeAt(i);
      if (inValue) {
        if (c === 92) i++;
        else if (c === 34) inValue = false;
      } else if (c === 34) {
        inValue = true;
      } else if (c === 93 && line.charCodeAt(i + 1) !== 91) {
        i++;
        break;
      }
      i++;
    }
  } else {
    return null;
  }
  if (i < end) {
    if (line.charCodeAt(i) !== 32) return null;
    i++;
  }
  if (line.charCodeAt(i) === 0xfeff) i++; // BOM before a UTF-8 MSG
  return { msgStart: Math.min(i, end), tag };
}

/** Parses the syslog header of line[start, end); null when it is not well-formed syslog framing. */
export function parseSyslogFrame(line: string, start: number, end: number): SyslogFrame | null {
  let i = start;
  if (line.charCodeAt(i) === 60) {
    // <PRI>: 1–3 digits, at most 191 (facility 23, severity 7).
    let pri = 0;
    let n = 0;
    i++;
    while (n < 4 && isDigit(line.charCodeAt(i))) {
      pri = pri * 10 + line.charCodeAt(i) - 48;
      n++;
      i++;
    }
    if (n === 0 || n > 3 || pri > 191 || line.charCodeAt(i) !== 62) return null;
    i++;
    // RFC 5424: VERSION (1–2 digits, non-zero) then a space.
    if (isDigit(line.charCodeAt(i))) {
      const v = isDigit(line.charCodeAt(i + 1)) ? 2 : 1;
      if (line.charCodeAt(i + v) === 32 && line.charCodeAt(i) !== 48) return parse5424Rest(line, i + v + 1, end);
      return null;
    }
  }
  const j = isIsoDateAt(line, i) ? skipIsoTimestamp(line, i, end) : skipBsdTimestamp(line, i, end);
  if (j < 0) return null;
  return parseBsdRest(line, j, end);
}
