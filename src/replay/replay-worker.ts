/** Worker entry for parallel replay: runs scanSpan on the job it is given and posts the result. */
import { parentPort, workerData } from 'node:worker_threads';
import { scanSpan, type SpanJob } from './scan-span.js';

scanSpan(workerData as SpanJob).then(
  (result) => parentPort!.postMessage({ ok: true, result }),
  (err: unknown) => parentPort!.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) }),
);
