#!/usr/bin/env python3
"""14,042 MMLU-shaped 5-shot scoring requests: assay against transformers on one card (issue #7).

Builds a random Llama of SHAPE (8b: Llama-3-8B's shape, BF16) with transformers and saves it,
then times on the same device:
  * `assay bench --model local:DIR --model-args device=cuda --mmlu-shape SHAPE_FILE`: every
    question's 4 options as log-likelihood requests in one call (prefix cache, batching: as
    `assay run --tasks mmlu --num-fewshot 5` hands them over);
  * transformers as lm-eval's hf backend runs the same questions: one forward per context
    (header + question; the one-token options all read its last logits), contexts sorted by
    length and batched (HF_BATCH, right padding), log-softmax of the last position.
The lengths come from benchmarks/device/mmlu_shape.tsv (our tokenizer on the MMLU data); ids
are random, one header per subject, as the bench draws them.

Usage (GPU machine, after benchmarks/device/pack.sh):
  SHAPE=8b python3 benchmarks/device/mmlu_shaped_vs_hf.py .devpack/bin/assay
Environment: SHAPE [8b | 1b | tiny], DEVICE [cuda | cpu], SHAPE_FILE
[benchmarks/device/mmlu_shape.tsv], LIMIT (first N questions of every subject), HF_BATCH [16],
SKIP_HF=1 / SKIP_ASSAY=1, N_BATCH [4096 on cuda] (tokens per forward pass).
"""
import os
import subprocess
import sys
import tempfile
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

SHAPES = {
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, vocab_size=1000),
    "1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
               num_attention_heads=32, num_key_value_heads=8, vocab_size=32000),
    "8b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
               num_attention_heads=32, num_key_value_heads=8, vocab_size=128256),
}


def read_shape(path, limit):
    subjects = []
    for line in open(path):
        subj, h, qs = line.rstrip("\n").split("\t")
        q = [int(x) for x in qs.split(",")]
        subjects.append((subj, int(h), q[:limit] if limit else q))
    return subjects


def main():
    assay = sys.argv[1] if len(sys.argv) > 1 else ".devpack/bin/assay"
    shape = os.environ.get("SHAPE", "8b")
    device = os.environ.get("DEVICE", "cuda")
    shape_file = os.environ.get("SHAPE_FILE", os.path.join(os.path.dirname(__file__), "mmlu_shape.tsv"))
    limit = int(os.environ.get("LIMIT", "0"))
    batch = int(os.environ.get("HF_BATCH", "16"))
    subjects = read_shape(shape_file, limit)
    n_q = sum(len(q) for _, _, q in subjects)
    cfg = LlamaConfig(**SHAPES[shape], max_position_embeddings=4096, rms_norm_eps=1e-5,
                      tie_word_embeddings=False)
    work = tempfile.mkdtemp(prefix="mmlu_shaped_")
    mdir = os.path.join(work, "model")
    t0 = time.time()
    torch.manual_seed(0)
    with torch.device(device):
        LlamaForCausalLM(cfg).to(torch.bfloat16).save_pretrained(mdir, safe_serialization=True)
    print(f"[{shape}] random model saved in {time.time() - t0:.1f} s; {len(subjects)} subjects, {n_q} questions")
    sf = os.path.join(work, "shape.tsv")
    with open(sf, "w") as f:
        for subj, h, q in subjects:
            f.write(f"{subj}\t{h}\t{','.join(map(str, q))}\n")

    if os.environ.get("SKIP_ASSAY") != "1":
        # Scoring batches of N_BATCH tokens per forward (4096, the engine's default on a GPU,
        # given explicitly so the command line shows it).
        margs = ",".join(a for a in ["device=cuda" if device == "cuda" else "",
                                     f"n_batch={os.environ['N_BATCH']}" if os.environ.get("N_BATCH") else
                                     ("n_batch=4096" if device == "cuda" else "")] if a)
        cmd = [assay, "bench", "--model", "local:" + mdir, "--pp", "0", "--tg", "0", "--reps", "1",
               "--mmlu-shape", sf] + (["--model-args", margs] if margs else [])
        t0 = time.time()
        out = subprocess.run(cmd, capture_output=True, text=True)
        print(out.stdout.strip())
        if out.returncode:
            print(out.stderr[-2000:], file=sys.stderr)
            sys.exit(1)
        print(f"[{shape}, assay] process {time.time() - t0:.1f} s (incl. load)")

    if os.environ.get("SKIP_HF") != "1":
        m = LlamaForCausalLM.from_pretrained(mdir, dtype=torch.bfloat16).to(device).eval()
        g = torch.Generator().manual_seed(1)
        ctxs = []
        for _, h, qs in subjects:
            header = torch.randint(0, cfg.vocab_size, (h,), generator=g)
            for q in qs:
                ctxs.append(torch.cat([header, torch.randint(0, cfg.vocab_size, (q,), generator=g)]))
        ctxs.sort(key=len, reverse=True)
        options = torch.randint(0, cfg.vocab_size, (4,), generator=g).to(device)
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.time()
        checksum = 0.0
        with torch.no_grad():
            for i in range(0, len(ctxs), batch):
                part = ctxs[i:i + batch]
                L = len(part[0])
                ids = torch.zeros((len(part), L), dtype=torch.long)
                mask = torch.zeros((len(part), L), dtype=torch.long)
                for j, c in enumerate(part):
                    ids[j, :len(c)] = c
                    mask[j, :len(c)] = 1
                logits = m(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
                last = torch.tensor([len(c) - 1 for c in part], device=device)
                lp = torch.log_softmax(logits[torch.arange(len(part), device=device), last].float(), -1)
                checksum += float(lp[:, options].sum())
        if device == "cuda":
            torch.cuda.synchronize()
        s = time.time() - t0
        print(f"| transformers {shape} | {device} bf16, batch {batch} | mmlu 5-shot shape: {n_q} questions, "
              f"{4 * n_q} requests | {s:.1f} s ({n_q / s:.1f} q/s) |  (checksum {checksum:.3g})")


if __name__ == "__main__":
    main()
