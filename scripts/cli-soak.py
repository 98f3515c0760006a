#!/usr/bin/env python3
"""The elb CLI on random shapes and settings: no panic, every refusal a message.

Usage: python3 scripts/cli-soak.py [seed, default 1] [dumps, default 60]

Writes sample dumps of random shapes with `elb sample` (1-5 layers, 1-64
experts, 1-16 NPUs, 1-4 nodes, 1-12 dumps; summed or series; mostly shapes
the generator takes, some it refuses) into a
temporary folder; on each runs `elb` four times with a random algorithm, held-out mode,
NPUs, nodes, redundant experts, shared-expert devices, device type, groups,
robust and seed (mostly valid, some not), and `elb score` on about half of
the tables written. A finding is an exit code other than 0 or 2, a panic,
a refusal without a message, or a run over 120 s; the script prints each,
then the counts, and exits 1 if there was any. Builds target/release/elb.
"""
import os
import random
import shutil
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
subprocess.run(['cargo', 'build', '--quiet', '--locked', '--release', '--bin', 'elb'], cwd=here, check=True)
elb = os.path.join(here, 'target', 'release', 'elb')
seed = int(sys.argv[1]) if len(sys.argv) > 1 else 1
dumps = int(sys.argv[2]) if len(sys.argv) > 2 else 60
rng = random.Random(seed)
algos = ['0', '1', '2', '3', '4', '5', 'deepseek-hierarchical', 'deepseek-global', 'flashlb']
work = tempfile.mkdtemp(prefix='elb-soak-')
findings = []
exits = {}
counts = {'dumps': 0, 'refused shapes': 0, 'solves': 0, 'scores': 0}
samples = []


def check(kind, args, p):
    if p.returncode not in (0, 2) or 'panick' in p.stderr or (p.returncode == 2 and not p.stderr.strip()):
        findings.append(f'{kind} exit {p.returncode}: {" ".join(args)}\n    {p.stderr.strip()[-400:]}')


try:
    for i in range(dumps):
        d = os.path.join(work, f'd{i}')
        out = os.path.join(work, f'o{i}')
        L = rng.choice([1, 2, 3, 5])
        E = rng.choice([2, 3, 4, 7, 8, 16, 17, 32])
        D = rng.choice([1, 2, 3, 4, 6, 8, 16])
        N = rng.choice([1, 2, 3, 4])
        T = rng.choice([1, 2, 3, 5, 12])
        if rng.random() < 0.8:
            # Mostly a shape the generator takes: experts split over the NPUs,
            # nodes dividing the NPUs.
            E = D * rng.choice([1, 2, 3, 4])
            N = rng.choice([n for n in (1, 2, 4) if D % n == 0])
        fmt = rng.choice(['series', 'summed'])
        args = [elb, 'sample', '--preset', 'small', '--format', fmt, '--layers', str(L), '--experts', str(E),
                '--npus', str(D), '--nodes', str(N), '--dumps', str(T), '--seed', str(i), '-o', d]
        p = subprocess.run(args, capture_output=True, text=True)
        check('sample', args, p)
        if p.returncode != 0:
            counts['refused shapes'] += 1
            if os.path.exists(d):
                findings.append(f'a refused sample left its folder: {" ".join(args)}')
            continue
        counts['dumps'] += 1
        for _ in range(4):
            a = rng.choice(algos)
            nn = rng.choice([D, D, 2 * D, max(1, D // 2), 3, 0])
            nd = rng.choice([1, N, 2, 3])
            nsed = rng.choice([0, 0, 0, 1, 2])
            nre = rng.choice([0, nn, 2 * nn, 1, 3, E])
            if rng.random() < 0.8 and nn > nsed:
                # Mostly a valid shape: the slots divide evenly over the routed NPUs.
                need = -(-E // (nn - nsed))
                nre = max(0, (nn - nsed) * (need + rng.choice([0, 1, 2])) - E)
            if rng.random() < 0.8 and (nd > nn or (nn and nn % nd)):
                nd = 1
            args = [elb, '-icp', d, '-o', out, '-al', a, '-nn', str(nn), '-nd', str(nd), '-nre', str(nre),
                    '-nsed', str(nsed), '-dt', rng.choice(['a2', 'a3']), '--threads', '2', '--quiet']
            if a.startswith('deepseek-h') and rng.random() < 0.7:
                args += ['--groups', str(rng.choice([1, 2, 4, 8]))]
            if a in ('3', '5') and rng.random() < 0.3:
                args += ['--robust']
            if a in ('3', '5') and rng.random() < 0.3:
                args += ['--seed', str(rng.randint(0, 2**63))]
            r = rng.random()
            if r < 0.1:
                args += ['--holdout']
            elif r < 0.2:
                args += ['--holdout-split', rng.choice(['0.7', '0.5', '0.01', '0.99', '1', '0', 'x'])]
            elif r < 0.35:
                # A rolling origin: mostly W below the dump's intervals, some not.
                w, h = rng.choice([1, 2, 3, T - 1, T, T + 3, 0]), rng.choice([1, 2, 5, 0])
                args += ['--holdout-rolling', rng.choice([f'{w},{h}', f'{w},{h}', f'{w},{h}', f'{w}', f'{w},x', f'{w},{h},1'])]
            try:
                q = subprocess.run(args, capture_output=True, text=True, timeout=120)
            except subprocess.TimeoutExpired:
                findings.append(f'solve over 120 s: {" ".join(args)}')
                continue
            counts['solves'] += 1
            exits[q.returncode] = exits.get(q.returncode, 0) + 1
            check('solve', args, q)
            if q.returncode == 2 and len(samples) < 6 and rng.random() < 0.3:
                samples.append(q.stderr.strip().splitlines()[-1][:200])
            table = os.path.join(out, 'decode_global_deployment.json')
            if q.returncode == 0 and os.path.exists(table) and rng.random() < 0.5:
                sargs = [elb, 'score', '-icp', d, '--table', table, '-nn', str(nn), '-nd', str(nd), '-nsed', str(nsed)]
                s = subprocess.run(sargs, capture_output=True, text=True)
                counts['scores'] += 1
                check('score', sargs, s)
            shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(d, ignore_errors=True)
finally:
    shutil.rmtree(work, ignore_errors=True)

for f in findings:
    print(f)
print(f"seed {seed}: {counts['dumps']} dumps ({counts['refused shapes']} shapes refused), {counts['solves']} solves (exit codes {dict(sorted(exits.items()))}), "
      f"{counts['scores']} scores, {len(findings)} finding(s)")
for m in samples:
    print(f'  refusal: {m}')
sys.exit(1 if findings else 0)
