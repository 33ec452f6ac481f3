/**
 * Text that came from a log line, a syslog tag or a peer, made safe for a terminal: control
 * characters (newlines, escapes) as \xHH, bidi and separator characters as \uHHHH, so that no such
 * text can move the cursor, recolour or forge the lines around it.
 */
// eslint-disable-next-line no-control-regex
const CONTROL_ALL_RE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

export function terminalText(s: string): string {
  return String(s).replace(CONTROL_ALL_RE, (c) => {
    const n = c.charCodeAt(0);
    return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
  });
}

/**
 * A value as one line of JSON for a terminal (`--json`): JSON.stringify escapes only U+0000–U+001F,
 * so DEL, the C1 controls (U+0080–U+009F, which some terminals obey), bidi overrides and the line
 * separators are written as \uXXXX too. The same JSON value, safe to print.
 */
// eslint-disable-next-line no-control-regex
const JSON_UNSAFE_RE = /[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

export function terminalJson(value: unknown): string {
  return JSON.stringify(value).replace(JSON_UNSAFE_RE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
