#!/bin/sh
# Run another project's integration suite direct and through the gateway; see scripts/peer-suite.ts.
#   scripts/peer-suite.sh <checkout> <postgres.js|pg|pg-cursor|pg-query-stream|pg-pool|pgx|lib-pq|psycopg> [--runs direct,gateway,guarded] [--json out.json]
here=$(dirname "$0")
exec node --import tsx "$here/peer-suite.ts" "$@"
