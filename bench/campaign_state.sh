#!/usr/bin/env bash
# Sourced by bench/campaign_merge.sh and bench/campaign_stretch.sh: one hash of a campaign folder's state — its records
# and rung notes — so that checkpoint weights kept in .weights/<folder>/ are seeded only beside the very state they
# were brought back with (a merge thrown away, or a later call merged without weights, leaves them stale).
#
#   campaign_state_hash DIR   → 64 hex digits: sha256 of DIR/runs.jsonl then each DIR/checkpoints/*/rung.json in
#                               byte order of their paths (LC_ALL=C, the same on every host)
campaign_state_hash() {
  local dir=$1
  {
    cat "$dir/runs.jsonl" 2>/dev/null || true
    if [ -d "$dir/checkpoints" ]; then
      find "$dir/checkpoints" -mindepth 2 -maxdepth 2 -name rung.json | LC_ALL=C sort | while read -r note; do
        printf '%s\n' "${note#"$dir"/}"
        cat "$note"
      done
    fi
  } | sha256sum | cut -c1-64
}
