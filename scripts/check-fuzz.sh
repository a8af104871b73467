#!/usr/bin/env bash
# The fuzz crate (proto/fuzz, its own workspace) builds on stable, and its committed seed corpora
# are exactly what its `seeds` program writes for the current wire format: a wire change that
# forgot to regenerate them (`cargo run --release --bin seeds -- corpus` in proto/fuzz) fails here.
# Fuzzing itself needs nightly and hours: see FUZZING.md.
set -euo pipefail
cd "$(dirname "$0")/../proto/fuzz"
cargo build --release --locked --bins
fresh=$(mktemp -d)
trap 'rm -rf "$fresh"' EXIT
cargo run --quiet --release --locked --bin seeds -- "$fresh"
for corpus in decode machines; do
  if ! diff -r "$fresh/$corpus" "corpus/$corpus" >/dev/null; then
    echo "proto/fuzz/corpus/$corpus is stale: the seeds program writes other bytes now"
    diff -rq "$fresh/$corpus" "corpus/$corpus" || true
    echo "regenerate: (cd proto/fuzz && cargo run --release --bin seeds -- corpus)"
    exit 1
  fi
done
echo "fuzz targets build; seed corpora current"
