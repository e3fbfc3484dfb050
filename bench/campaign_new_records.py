#!/usr/bin/env python3
"""The records a campaign stretch added, one line each, and their totals — what results/README.md's stretch paragraph
reports (bench/campaign_merge.sh prints it after a merge).

    python3 bench/campaign_new_records.py RUNS_JSONL ID [ID ...]

A line: label, training length L (the first training segment's), d_model, lr, status, epochs, test accuracy, wall
seconds, ms a step. Totals: optimiser steps, training tokens (steps × batch × L) and process-hours (every new
record's wallSeconds, runs stopped by halving included; a run still in flight when the call ended is not a record
yet). Exit 2, one line, if the file cannot be read or an id has no record.
"""
import json
import sys


def main(argv):
    if len(argv) < 2:
        print("usage: campaign_new_records.py RUNS_JSONL ID [ID ...]", file=sys.stderr)
        return 2
    path, ids = argv[0], argv[1:]
    try:
        with open(path) as f:
            records = {r["id"]: r for r in (json.loads(line) for line in f if line.strip())}
    except (OSError, ValueError, KeyError) as e:
        print(f"campaign_new_records: {path} is not a readable runs.jsonl ({e})", file=sys.stderr)
        return 2
    missing = [i for i in ids if i not in records]
    if missing:
        print(f"campaign_new_records: no record for {', '.join(missing)} in {path}", file=sys.stderr)
        return 2
    rows, steps, tokens, seconds = [], 0, 0, 0.0
    for i in ids:
        r = records[i]
        config = r["config"]
        seq_len = config["data"]["train"][0]["seqLen"]
        lr = config["train"]["lr"]
        rows.append((r["label"], seq_len, config["model"]["dModel"], lr, r["status"], r.get("epochs"), r.get("testAccuracy"), r.get("wallSeconds") or 0, r.get("msPerStep")))
        steps += r.get("steps") or 0
        tokens += (r.get("steps") or 0) * config["train"]["batchSize"] * seq_len
        seconds += r.get("wallSeconds") or 0
    rows.sort(key=lambda row: (row[0], row[1], row[2], row[3]))
    print("new records (label, L, d, lr, status, epochs, test accuracy, wall s, ms a step):")
    for label, seq_len, d, lr, status, epochs, test, wall, ms in rows:
        acc = f"{test:.4f}" if isinstance(test, (int, float)) else "-"
        step = f"{ms:.1f}" if isinstance(ms, (int, float)) else "-"
        print(f"  {label:<12} L{seq_len:<4} d{d:<4} lr {lr:<9.2g} {status:<10} {epochs!s:>3} ep  {acc}  {wall:6.0f} s  {step} ms")
    print(f"new records: {len(ids)}, {steps:,} optimiser steps, {tokens / 1e9:.2f} G training tokens, {seconds / 3600:.2f} process-hours")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
