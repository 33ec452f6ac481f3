/**
 * APR's own sdbm reader, compiled from C against libaprutil, as the oracle the SDBM writer
 * (src/enforce/apache-map.ts) is checked against: what mod_rewrite's dbm:sdbm map would read.
 * `reader PATH` reads keys on stdin and prints `KEY VALUE`, `KEY -` (a miss) or `KEY !error`;
 * `reader PATH all` walks the whole map and prints `KEY VALUE` for each entry.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const READER_C = String.raw`
#include <apr_general.h>
#include <apr_dbm.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
  apr_pool_t *p; apr_dbm_t *db; apr_status_t rv; char line[4096], e[256];
  apr_initialize(); apr_pool_create(&p, NULL);
  if ((rv = apr_dbm_open_ex(&db, "sdbm", argv[1], APR_DBM_READONLY, APR_OS_DEFAULT, p)) != APR_SUCCESS) {
    fprintf(stderr, "open: %s\n", apr_strerror(rv, e, sizeof e)); return 2; }
  if (argc > 2) {
    apr_datum_t k, v;
    for (rv = apr_dbm_firstkey(db, &k); rv == APR_SUCCESS && k.dptr != NULL; rv = apr_dbm_nextkey(db, &k)) {
      if (apr_dbm_fetch(db, k, &v) != APR_SUCCESS || v.dptr == NULL) return 3;
      fwrite(k.dptr, 1, k.dsize, stdout); putchar(' '); fwrite(v.dptr, 1, v.dsize, stdout); putchar('\n');
    }
    return rv == APR_SUCCESS || APR_STATUS_IS_EOF(rv) ? 0 : 4; // an empty map: firstkey says EOF
  }
  while (fgets(line, sizeof line, stdin)) {
    size_t n = strlen(line); if (n && line[n-1] == '\n') line[--n] = 0;
    apr_datum_t k, v; k.dptr = line; k.dsize = n;
    if ((rv = apr_dbm_fetch(db, k, &v)) != APR_SUCCESS) { printf("%s !%s\n", line, apr_strerror(rv, e, sizeof e)); continue; }
    if (v.dptr == NULL) printf("%s -\n", line);
    else { printf("%s ", line); fwrite(v.dptr, 1, v.dsize, stdout); putchar('\n'); }
  }
  return 0;
}
`;

const HEADERS = ['/usr/include/apr-1.0/apr_dbm.h', '/usr/include/apr-1/apr_dbm.h'];

/** Why the oracle cannot be built here, or null. */
export const APR_SKIP: string | null = !existsSync('/usr/bin/gcc') ? 'gcc not installed' : !HEADERS.some(existsSync) ? 'APR headers missing (apt-get install libaprutil1-dev)' : null;

/** Compiles `source` (default READER_C) into `dir`; returns the program's path. */
export async function buildAprReader(dir: string, source: string = READER_C): Promise<string> {
  await writeFile(join(dir, 'reader.c'), source);
  const reader = join(dir, 'reader');
  const inc = HEADERS.find(existsSync)!.replace(/\/apr_dbm\.h$/, '');
  execFileSync('gcc', ['-O1', '-o', reader, join(dir, 'reader.c'), `-I${inc}`, '-laprutil-1', '-lapr-1'], { stdio: 'pipe', timeout: 30_000 });
  return reader;
}
