#!/usr/bin/env python3
"""The token shape of MMLU 5-shot for `assay bench --mmlu-shape` (issue #7's 14,042-request timing).

Reads a full `assay run --tasks mmlu --num-fewshot 5 --log-samples` output (its samples record
each request's prompt tokens by our tokenizer) and writes one line per subject:

    SUBJECT <TAB> HEADER_TOKENS <TAB> Q1,Q2,...

HEADER_TOKENS: the subject's few-shot header (the longest text its contexts share, tokenized by
`assay tokenize`); Qi: question i's context tokens beyond it. Options are one token each. The
benchmark fills these lengths with random ids, one header per subject, so it has the real prefix
sharing and lengths without the model's vocabulary.

Usage: make_mmlu_shape.py ASSAY_OUT MODEL.gguf ASSAY_BIN > benchmarks/device/mmlu_shape.tsv
"""
import glob
import json
import os
import subprocess
import sys
import tempfile


def main():
    out_dir, model, assay = sys.argv[1:4]
    subjects = {}
    for p in sorted(glob.glob(os.path.join(out_dir, "samples_mmlu_*.jsonl"))):
        subj = os.path.basename(p)[len("samples_mmlu_"):-len(".jsonl")]
        rows = [json.loads(line) for line in open(p)]
        rows.sort(key=lambda r: r["doc_id"])
        ctx = [r["arguments"]["gen_args_0"]["arg_0"] for r in rows]
        # prompt_tokens counts context + the one-token option.
        total = [r["usage"][0]["prompt_tokens"] - 1 for r in rows]
        header = os.path.commonprefix(ctx)
        header = header[: header.rfind("\n\n") + 2]  # whole few-shot examples only
        subjects[subj] = (header, total)
    sep = "\n__ggml_vocab_test__\n"
    with tempfile.NamedTemporaryFile("w", suffix=".inp", delete=False) as f:
        f.write(sep.join(h for h, _ in subjects.values()))
        inp = f.name
    lines = subprocess.run([assay, "tokenize", "--model", model, "--file", inp],
                           check=True, capture_output=True, text=True).stdout.strip("\n").split("\n")
    os.unlink(inp)
    assert len(lines) == len(subjects), (len(lines), len(subjects))
    n = 0
    for (subj, (_, total)), ids in zip(subjects.items(), lines):
        h = len(ids.split())
        q = [t - h for t in total]
        assert min(q) > 0, subj
        n += len(q)
        print(f"{subj}\t{h}\t{','.join(map(str, q))}")
    print(f"{len(subjects)} subjects, {n} questions", file=sys.stderr)


if __name__ == "__main__":
    main()
