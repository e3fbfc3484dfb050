#!/usr/bin/env python3
"""Summarise a V8 sampling heap profile (bench/step.ts --heap-prof): bytes allocated by function (self), and by the
three innermost frames of each allocating stack. Usage: python3 bench/heapprof_top.py FILE.heapprofile [N] [STEPS]
(STEPS: the timed steps the profile covers, for a per-step figure)."""
import collections
import json
import sys

p = json.load(open(sys.argv[1]))
top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 0
by_fn, by_stack = collections.Counter(), collections.Counter()


def name(cf):
    return f"{cf['functionName'] or '(anonymous)'} {cf['url'].split('/')[-1]}:{cf['lineNumber'] + 1}"


def walk(n, stack):
    here = stack + [name(n['callFrame'])]
    size = n.get('selfSize', 0)
    if size:
        by_fn[here[-1]] += size
        by_stack[' < '.join(reversed(here[-3:]))] += size
    for c in n.get('children', []):
        walk(c, here)


walk(p['head'], [])
total = sum(by_fn.values())
print(f"sampled allocations: {total / 1e6:.1f} MB" + (f" ({total / steps / 1e6:.2f} MB a step over {steps})" if steps else ''))
print('by function:')
for k, v in by_fn.most_common(top):
    print(f"  {v / 1e6:8.2f} MB {100 * v / total:5.1f}%  {k}")
print('by stack (innermost first):')
for k, v in by_stack.most_common(top):
    print(f"  {v / 1e6:8.2f} MB {100 * v / total:5.1f}%  {k}")
