#!/usr/bin/env python3
"""Summarise a V8 .cpuprofile (node --cpu-prof, bench/step.ts --cpu-prof): self time by function, and inclusive time of
chosen frames. A native leaf (Dawn, the webgpu binding: no script url) is named by the JS function that called it, so
host time spent in native calls is told apart by caller; the inspector's own work (node:inspector's `post` and what
runs under it: stopping and serialising a profile taken through node:inspector — 110 of 272 sampled ms of a JRT-RNN
step's profile on 2026-11-30) is left out. (idle), (program) and (garbage collector) are counted: the shares are of
the sampled wall time, not of busy host time.
Usage: python3 bench/cpuprof_top.py FILE.cpuprofile [N]"""
import collections
import json
import sys

try:
    p = json.load(open(sys.argv[1]))
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    assert all(isinstance(p.get(k), list) for k in ('nodes', 'samples', 'timeDeltas'))
except (IndexError, OSError, ValueError, AssertionError, AttributeError) as e:
    what = sys.argv[1] if len(sys.argv) > 1 else '(no file)'
    print(f'cpuprof_top: {what} is not a readable V8 CPU profile (nodes, samples, timeDeltas) or N is not a number: {type(e).__name__}', file=sys.stderr)
    sys.exit(2)
nodes = {n['id']: n for n in p['nodes']}
parent = {}
for n in p['nodes']:
    for c in n.get('children', []):
        parent[c] = n['id']


def name(n):
    cf = n['callFrame']
    if cf['url'] == '' and not cf['functionName'].startswith('(') and n['id'] in parent:
        return f"native under {name(nodes[parent[n['id']]])}"
    return f"{cf['functionName'] or '(anonymous)'} {cf['url'].split('/')[-1]}:{cf['lineNumber'] + 1}"


def inspector(k):
    while k is not None:
        if nodes[k]['callFrame']['url'] == 'node:inspector':
            return True
        k = parent.get(k)
    return False


self_t = collections.Counter()
incl = collections.Counter()
for s, dt in zip(p['samples'], p['timeDeltas']):
    if s not in nodes or inspector(s):
        continue
    self_t[name(nodes[s])] += dt
    seen = set()
    k = s
    while k is not None:
        nm = name(nodes[k])
        if nm not in seen:
            incl[nm] += dt
            seen.add(nm)
        k = parent.get(k)
total = sum(self_t.values()) or 1
print(f'profile: {total / 1000:.0f} ms sampled (the inspector\'s own left out)')
print('self time:')
for k, v in self_t.most_common(top):
    print(f'  {v / 1000:9.1f} ms {100 * v / total:5.1f}%  {k}')
print('inclusive time (selected):')
for k, v in incl.most_common(400):
    if any(s in k for s in ('trainStep', 'variableGrads', 'gradients', 'recordAndSubmit', 'createBindGroup', 'makeUniforms',
                            'runWebGPUProgram', 'uploadToGPU', 'dispatch ', 'forward', 'apply ', 'submitQueue', 'makeShaderKey', 'runKernelFunc')):
        print(f'  {v / 1000:9.1f} ms {100 * v / total:5.1f}%  {k}')
