#!/usr/bin/env python3
"""Summarise a V8 .cpuprofile (node --cpu-prof): self time by function, and inclusive time of chosen frames.
Usage: python3 bench/cpuprof_top.py FILE.cpuprofile [N]"""
import collections
import json
import sys

p = json.load(open(sys.argv[1]))
top = int(sys.argv[2]) if len(sys.argv) > 2 else 30
nodes = {n['id']: n for n in p['nodes']}
parent = {}
for n in p['nodes']:
    for c in n.get('children', []):
        parent[c] = n['id']


def name(n):
    cf = n['callFrame']
    return f"{cf['functionName'] or '(anonymous)'} {cf['url'].split('/')[-1]}:{cf['lineNumber'] + 1}"


self_t = collections.Counter()
incl = collections.Counter()
for s, dt in zip(p['samples'], p['timeDeltas']):
    self_t[name(nodes[s])] += dt
    seen = set()
    k = s
    while k is not None:
        nm = name(nodes[k])
        if nm not in seen:
            incl[nm] += dt
            seen.add(nm)
        k = parent.get(k)
total = sum(self_t.values())
print(f'profile: {total / 1000:.0f} ms sampled')
print('self time:')
for k, v in self_t.most_common(top):
    print(f'  {v / 1000:9.1f} ms {100 * v / total:5.1f}%  {k}')
print('inclusive time (selected):')
for k, v in incl.most_common(400):
    if any(s in k for s in ('trainStep', 'variableGrads', 'gradients', 'recordAndSubmit', 'createBindGroup', 'makeUniforms',
                            'runWebGPUProgram', 'uploadToGPU', 'dispatch ', 'forward', 'apply ', 'submitQueue', 'makeShaderKey', 'runKernelFunc')):
        print(f'  {v / 1000:9.1f} ms {100 * v / total:5.1f}%  {k}')
