/**
 * A Runner for unit tests: records every call (argv and stdin) and answers from a script instead of
 * starting anything. Rules are tried newest first; the first whose matcher accepts the call answers
 * (a `times`-limited rule is dropped once used up). Calls no rule matches answer { code 0, '' }.
 * Like the real runner, an answer whose code is not in okExitCodes rejects with BH_ERR_EXEC, and
 * an Error answer is thrown as is (e.g. missingBinaryError to simulate ENOENT).
 */
import { execError, type RunOptions, type RunResult, type Runner } from '../../src/exec/runner.js';

export interface RecordedCall {
  readonly cmd: string;
  readonly args: readonly string[];
  readonly input: string | undefined;
  /** cmd and args joined by spaces, for readable assertions. */
  readonly line: string;
}

export type Answer = Partial<RunResult> | Error | ((call: RecordedCall) => Partial<RunResult> | Error);
export type Matcher = string | RegExp | ((call: RecordedCall) => boolean);

interface Rule {
  readonly match: Matcher;
  readonly answer: Answer;
  remaining: number;
}

export class RecordingRunner implements Runner {
  readonly calls: RecordedCall[] = [];
  private readonly rules: Rule[] = [];

  /** Answer calls matching `match` (a string is a prefix of `line`, a RegExp is tested on `line`). */
  on(match: Matcher, answer: Answer, times = Infinity): this {
    this.rules.unshift({ match, answer, remaining: times });
    return this;
  }

  /** Lines of all calls so far, optionally only those starting with `prefix`. */
  lines(prefix = ''): string[] {
    return this.calls.map((c) => c.line).filter((l) => l.startsWith(prefix));
  }

  clear(): void {
    this.calls.length = 0;
  }

  async run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const call: RecordedCall = { cmd, args: [...args], input: opts.input, line: [cmd, ...args].join(' ') };
    this.calls.push(call);
    const rule = this.rules.find((r) => r.remaining > 0 && matches(r.match, call));
    let answer: Partial<RunResult> | Error = { code: 0 };
    if (rule) {
      rule.remaining -= 1;
      answer = typeof rule.answer === 'function' ? rule.answer(call) : rule.answer;
    }
    if (answer instanceof Error) throw answer;
    const result: RunResult = { stdout: answer.stdout ?? '', stderr: answer.stderr ?? '', code: answer.code ?? 0 };
    if (!(opts.okExitCodes ?? [0]).includes(result.code)) throw execError(cmd, args, result);
    return result;
  }
}

function matches(m: Matcher, call: RecordedCall): boolean {
  if (typeof m === 'string') return call.line.startsWith(m);
  if (m instanceof RegExp) return m.test(call.line);
  return m(call);
}
