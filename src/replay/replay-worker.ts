/**
 * A parallel replay's thread: scans each span it is sent ({index, job}) and posts the result back with
 * its index, the columns moved rather than copied. The main thread ends it when the replay is done.
 */
import { parentPort } from 'node:worker_threads';
import { scanSpan, spanBuffers, type SpanJob } from './scan-span.js';

parentPort!.on('message', (m: { index: number; job: SpanJob }) => {
  scanSpan(m.job).then(
    (result) => parentPort!.postMessage({ index: m.index, ok: true, result }, spanBuffers(result)),
    (err: unknown) => parentPort!.postMessage({ index: m.index, ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
});
