#!/usr/bin/env python3
"""Times Hugging Face `tokenizers` or `tiktoken` on the benchmark corpus with the Llama 3 vocab.

One process per measurement, so each tool starts cold the same way the C++ bench does. Only
the encode call is timed (after a warm-up on the first 1% of the documents); loading the
vocabulary is not. Prints one JSON line: tool, threads, seconds (wall), cpu_seconds (process
CPU time, all threads), docs, tokens, id_sum.

  RAYON_NUM_THREADS limits `tokenizers` (encode_batch); tiktoken gets num_threads.
  The tiktoken Encoding is built from the same tokenizer.json: byte-level vocab -> bytes with
  rank = id (Llama 3's ranks are its ids), Llama 3's pattern, the added tokens as specials.

Usage: peers.py {hf|tiktoken} HF_DIR CORPUS.jsonl THREADS [DUMP_IDS]
"""
import json
import os
import sys
import time

LLAMA3_PAT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
              r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def bytes_to_unicode():
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(0xA1, 0xAC + 1)) + \
        list(range(0xAE, 0xFF + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def make_tiktoken(hf_dir):
    import tiktoken
    with open(os.path.join(hf_dir, 'tokenizer.json'), encoding='utf-8') as f:
        tj = json.load(f)
    inv = {c: b for b, c in bytes_to_unicode().items()}
    ranks = {bytes(inv[ch] for ch in tok): i for tok, i in tj['model']['vocab'].items()}
    specials = {t['content']: t['id'] for t in tj['added_tokens']}
    return tiktoken.Encoding(name='llama3', pat_str=LLAMA3_PAT, mergeable_ranks=ranks,
                             special_tokens=specials)


def main():
    tool, hf_dir, corpus, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    dump = sys.argv[5] if len(sys.argv) > 5 else None
    with open(corpus, encoding='utf-8') as f:
        docs = [json.loads(line)['text'] for line in f if line.strip()]
    warm = docs[:max(1, len(docs) // 100)]
    if tool == 'hf':
        os.environ['RAYON_NUM_THREADS'] = str(threads)
        os.environ['TOKENIZERS_PARALLELISM'] = 'true'
        from tokenizers import Tokenizer
        tok = Tokenizer.from_file(os.path.join(hf_dir, 'tokenizer.json'))

        def run(batch):
            return [e.ids for e in tok.encode_batch(batch, add_special_tokens=False)]
    elif tool == 'tiktoken':
        enc = make_tiktoken(hf_dir)
        if threads == 1:
            def run(batch):
                return [enc.encode_ordinary(t) for t in batch]
        else:
            def run(batch):
                return enc.encode_ordinary_batch(batch, num_threads=threads)
    else:
        sys.exit(f'unknown tool {tool}')
    run(warm)
    t0, c0 = time.perf_counter(), time.process_time()
    ids = run(docs)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    if dump:
        with open(dump, 'w') as f:
            for row in ids:
                f.write(' '.join(map(str, row)) + '\n')
    print(json.dumps({'tool': tool, 'threads': threads, 'seconds': dt, 'cpu_seconds': cpu,
                      'docs': len(docs),
                      'tokens': sum(len(r) for r in ids), 'id_sum': sum(sum(r) for r in ids)}))


if __name__ == '__main__':
    main()
