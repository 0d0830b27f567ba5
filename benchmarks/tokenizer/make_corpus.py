#!/usr/bin/env python3
"""Builds the ~10 MB mixed-text corpus for the tokenizer speed benchmark (JSONL, {"text": ...}).

Sources (all under the shared data folder, see its SOURCES.md): WebText and Pile prefixes
(English prose), MMLU test rows, MATH problems with solutions (LaTeX), GSM8K, SWE-bench Lite
patches and issues (code), Okapi Dutch ARC/MMLU (multilingual) and AlpacaEval model outputs
(chatty prose, markdown, some code). Sources are interleaved round-robin so every stretch of the
corpus is mixed; the order is fixed, so the corpus is the same on every run.

Usage: make_corpus.py DATA_DIR OUT.jsonl [TARGET_BYTES]
"""
import csv
import glob
import json
import os
import sys


def jsonl(path, fields):
    with open(path, encoding='utf-8') as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                yield '\n\n'.join(str(d[k]) for k in fields if d.get(k))


def webtext(data):
    for name in ('webtext.test', 'webtext.valid', 'pile.test', 'pile.valid'):
        yield from jsonl(f'{data}/webtext_sample/{name}.jsonl', ['text'])


def mmlu(data):
    for path in sorted(glob.glob(f'{data}/mmlu/test/*.csv')):
        with open(path, encoding='utf-8', newline='') as f:
            for row in csv.reader(f):
                q, choices, ans = row[0], row[1:5], row[5]
                yield q + '\n' + '\n'.join(f'{l}. {c}' for l, c in zip('ABCD', choices)) + \
                    f'\nAnswer: {ans}'


def math(data):
    yield from jsonl(f'{data}/math/test_5000.jsonl', ['problem', 'solution'])


def gsm8k(data):
    yield from jsonl(f'{data}/gsm8k/test.jsonl', ['question', 'answer'])


def code(data):
    with open(f'{data}/swe_bench/lite/swe-bench-lite-test.json', encoding='utf-8') as f:
        for d in json.load(f):
            yield d['problem_statement']
            yield d['patch']
            yield d['test_patch']


def dutch(data):
    for path in sorted(glob.glob(f'{data}/dutch/okapi/*/*.json')):
        with open(path, encoding='utf-8') as f:
            for d in json.load(f):
                yield '\n'.join(str(v) for k, v in d.items() if isinstance(v, str) and k != 'id')


def alpaca(data):
    for path in sorted(glob.glob(f'{data}/alpaca_eval/results/*/model_outputs.json')):
        with open(path, encoding='utf-8') as f:
            for d in json.load(f):
                yield d['instruction'] + '\n\n' + d['output']


def main():
    data, out = sys.argv[1], sys.argv[2]
    target = int(sys.argv[3]) if len(sys.argv) > 3 else 10 * 1024 * 1024
    gens = [g(data) for g in (webtext, mmlu, math, gsm8k, code, dutch, alpaca)]
    total, docs = 0, []
    while gens and total < target:
        for g in list(gens):
            try:
                t = next(g)
            except StopIteration:
                gens.remove(g)
                continue
            if not t:
                continue
            docs.append(t)
            total += len(t.encode('utf-8'))
            if total >= target:
                break
    with open(out, 'w', encoding='utf-8') as f:
        for t in docs:
            f.write(json.dumps({'text': t}, ensure_ascii=False) + '\n')
    print(f'{out}: {len(docs)} documents, {total} bytes', file=sys.stderr)


if __name__ == '__main__':
    main()
