#!/usr/bin/env python3
"""Helper for scripts/reference/mmlu_lm_eval_parity.sh (issue #5, MMLU end-to-end parity).

Runs inside the lm-eval venv (lm-eval 0.4.13) with llama-cpp-python 0.3.36's `llama_cpp`
package on PYTHONPATH and LLAMA_CPP_LIB_PATH pointing at a libllama build.

Subcommands
  prepare     DATA/mmlu CSVs (hendrycks layout) -> JSONL in cais/mmlu layout
              ({question, subject, choices, answer}) under SCRATCH/data, plus one lm-eval
              task YAML per subject under SCRATCH/tasks that `include`s lm-eval's own
              tasks/mmlu/default/_default_template_yaml (same doc_to_text, dev split
              first_n few-shot, " A".." D" choices) and reads the local JSONL.
              Tasks are named mmlu_local_<subject> and tagged mmlu_local.
  lmeval      lm-eval's evaluator (simple_evaluate) on those tasks with a llama-cpp-python
              model scored in process (see LlamaCppLM). Writes results.json and
              samples_mmlu_<subject>.jsonl.
  gguf-probe  one request exactly as lm-eval's `gguf` backend sends it to a running
              `python -m llama_cpp.server`, and lm-eval's own gguf.get_result on the reply.
  compare     assay output dir vs lm-eval output dir: accuracies, agreement, log-lik diffs.
"""
import argparse
import csv
import glob
import hashlib
import json
import math
import os
import re
import sys
import time


def cmd_prepare(a):
    import yaml
    import lm_eval

    tmpl_dir = os.path.join(os.path.dirname(lm_eval.__file__), "tasks", "mmlu", "default")
    template = os.path.join(tmpl_dir, "_default_template_yaml")
    data_out = os.path.join(a.scratch, "data")
    task_out = os.path.join(a.scratch, "tasks")
    for d in ("test", "dev"):
        os.makedirs(os.path.join(data_out, d), exist_ok=True)
    os.makedirs(task_out, exist_ok=True)
    subjects = []
    for y in sorted(glob.glob(os.path.join(tmpl_dir, "mmlu_*.yaml"))):
        cfg = yaml.safe_load(open(y))
        if "dataset_name" not in cfg:
            continue
        subjects.append((cfg["dataset_name"], cfg))
    for subj, cfg in subjects:
        files = {}
        for split in ("test", "dev"):
            src = os.path.join(a.data, split, f"{subj}_{split}.csv")
            dst = os.path.join(data_out, split, f"{subj}.jsonl")
            with open(src, newline="", encoding="utf-8") as f, open(dst, "w", encoding="utf-8") as g:
                for row in csv.reader(f):
                    assert len(row) == 6, (src, row)
                    g.write(json.dumps({"question": row[0], "subject": subj,
                                        "choices": row[1:5], "answer": "ABCD".index(row[5])},
                                       ensure_ascii=False) + "\n")
            files[split] = dst
        task = {
            "include": template,
            "task": f"mmlu_local_{subj}",
            "task_alias": subj,
            "tag": "mmlu_local",
            "description": cfg["description"],
            "dataset_path": "json",
            "dataset_kwargs": {"data_files": files},
        }
        with open(os.path.join(task_out, f"mmlu_local_{subj}.yaml"), "w") as f:
            yaml.safe_dump(task, f, sort_keys=False, allow_unicode=True)
    print(f"prepared {len(subjects)} subjects under {a.scratch}")


def make_lm(model_path, n_ctx, threads, flash_attn=False):
    import numpy as np
    import llama_cpp
    from lm_eval.api.model import TemplateLM

    class LlamaCppLM(TemplateLM):
        """llama-cpp-python (same libllama as the server) scored in process.

        Uses lm-eval's TemplateLM.loglikelihood (its _encode_pair: whole = tok(ctx+cont),
        continuation = whole[len(tok(ctx)):], trailing context spaces moved over), then the
        log-softmax of the logits at positions len(ctx)-1 .. len(whole)-2. The KV cache keeps
        the longest common prefix with the previous request (the 4 options of a question and
        the few-shot header are shared)."""

        def __init__(self):
            super().__init__()
            self.llm = llama_cpp.Llama(model_path=model_path, n_ctx=n_ctx, n_threads=threads,
                                       n_threads_batch=threads, logits_all=True, verbose=False,
                                       flash_attn=flash_attn)
            self.n_eval_tokens = 0

        @property
        def eot_token_id(self):
            return self.llm.token_eos()

        def tok_encode(self, string, add_special_tokens=None, **kw):
            # llama-cpp-python's server path: tokenize(add_bos=True) adds BOS only when the
            # GGUF says add_bos_token (false for SmolLM2).
            return self.llm.tokenize(string.encode("utf-8"), add_bos=True, special=False)

        def _loglikelihood_tokens(self, requests, disable_tqdm=False, **kw):
            llm = self.llm
            out = []
            for key, ctx, cont in requests:
                toks = list(ctx) + list(cont)
                if len(toks) > n_ctx:
                    raise RuntimeError(f"request of {len(toks)} tokens exceeds n_ctx {n_ctx}")
                prev = llm.input_ids[: llm.n_tokens]
                p = 0
                lim = min(len(prev), len(toks))
                while p < lim and prev[p] == toks[p]:
                    p += 1
                p = min(p, len(toks) - 1)  # always evaluate at least one token
                llm.n_tokens = p
                llm.eval(toks[p:])
                self.n_eval_tokens += len(toks) - p
                rows = llm.scores[len(ctx) - 1: len(toks) - 1].astype(np.float64)
                m = rows.max(axis=1, keepdims=True)
                lsm = rows - m - np.log(np.exp(rows - m).sum(axis=1, keepdims=True))
                lp = float(sum(lsm[i, t] for i, t in enumerate(cont)))
                greedy = bool(all(int(rows[i].argmax()) == t for i, t in enumerate(cont)))
                out.append((lp, greedy))
                # With --cache, lm-eval's CachingLM stores each answer as it is made, so a run
                # that is stopped resumes where it was (the full MMLU run takes hours here).
                self.cache_hook.add_partial("loglikelihood", key, (lp, greedy))
            return out

        def loglikelihood_rolling(self, requests, disable_tqdm=False):
            raise NotImplementedError

        def generate_until(self, requests, disable_tqdm=False):
            raise NotImplementedError

    return LlamaCppLM()


def cmd_lmeval(a):
    import lm_eval
    from lm_eval.tasks import TaskManager

    lm = make_lm(a.model, a.n_ctx, a.threads, a.flash_attn)
    tm = TaskManager(include_path=os.path.join(a.scratch, "tasks"))
    t0 = time.time()
    res = lm_eval.simple_evaluate(model=lm, tasks=a.tasks.split(","), num_fewshot=a.num_fewshot,
                                  limit=a.limit, log_samples=True, task_manager=tm,
                                  bootstrap_iters=0, use_cache=a.cache)
    wall = time.time() - t0
    os.makedirs(a.out, exist_ok=True)
    samples = res.pop("samples", {})
    for task, rows in samples.items():
        with open(os.path.join(a.out, f"samples_{task}.jsonl"), "w") as f:
            for r in rows:
                f.write(json.dumps(r, default=str, ensure_ascii=False) + "\n")
    res["wall_seconds"] = wall
    res["evaluated_tokens"] = lm.n_eval_tokens
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(res, f, default=str, indent=1)
    print(f"lm-eval done in {wall:.1f}s, {lm.n_eval_tokens} tokens evaluated")


def cmd_gguf_probe(a):
    """One request as lm-eval's gguf backend sends it; shows what gguf.get_result makes of it."""
    from lm_eval.models.gguf import GGUFLM, get_result

    rows = list(csv.reader(open(os.path.join(a.data, "dev", "abstract_algebra_dev.csv"))))
    test = next(csv.reader(open(os.path.join(a.data, "test", "abstract_algebra_test.csv"))))
    dtt = lambda r: r[0].strip() + "".join(f"\n{'ABCD'[i]}. {r[1 + i]}" for i in range(4)) + "\nAnswer:"
    ctx = ("The following are multiple choice questions (with answers) about abstract algebra.\n\n"
           + "".join(dtt(r) + " " + r[5] + "\n\n" for r in rows[:a.num_fewshot]) + dtt(test))
    lm = GGUFLM(base_url=a.url)
    for cont in (" A", " B", " C", " D"):
        t0 = time.time()
        resp = lm.gguf_completion(context=ctx, continuation=cont)
        dt = time.time() - t0
        lp = resp["choices"][0]["logprobs"]
        ll, greedy = get_result(lp, len(ctx))
        print(json.dumps({"continuation": cont, "seconds": round(dt, 1),
                          "n_tokens_returned": len(lp["tokens"]),
                          "last_tokens": lp["tokens"][-3:],
                          "last_token_logprobs": lp["token_logprobs"][-3:],
                          "last_offsets": lp["text_offset"][-3:], "len_context": len(ctx),
                          "completion_text_tail": resp["choices"][0]["text"][-12:],
                          "gguf_get_result": [ll, greedy]}))


def cmd_tokens(a):
    """Tokens a prefix-reusing scorer must evaluate for 5-shot MMLU with --limit (None = all):
    the basis for extrapolating a subset's wall time to the full 14,042 questions."""
    import llama_cpp

    llm = llama_cpp.Llama(model_path=a.model, vocab_only=True, verbose=False)
    tok = lambda s: llm.tokenize(s.encode("utf-8"), add_bos=True, special=False)
    dtt = lambda r: r[0].strip() + "".join(f"\n{'ABCD'[i]}. {r[1 + i]}" for i in range(4)) + "\nAnswer:"
    total = nq = 0
    prev = []
    for p in sorted(glob.glob(os.path.join(a.data, "test", "*_test.csv"))):
        subj = os.path.basename(p)[: -len("_test.csv")]
        dev = list(csv.reader(open(os.path.join(a.data, "dev", f"{subj}_dev.csv"), newline="")))
        head = (f"The following are multiple choice questions (with answers) about {subj.replace('_', ' ')}.\n\n"
                + "".join(dtt(r) + " " + r[5] + "\n\n" for r in dev[:5]))
        rows = list(csv.reader(open(p, newline="")))
        if a.limit:
            rows = rows[: a.limit]
        for r in rows:
            nq += 1
            for c in " A", " B", " C", " D":
                t = tok(head + dtt(r) + c)
                k = 0
                while k < min(len(t), len(prev)) and t[k] == prev[k]:
                    k += 1
                total += len(t) - min(k, len(t) - 1)
                prev = t
    print(json.dumps({"limit": a.limit, "questions": nq, "evaluated_tokens": total}))


def load_samples(d):
    out = {}
    # Full samples files (assay's or lm-eval's) or the compact reference (cmd_compact).
    for p in glob.glob(os.path.join(d, "samples_*.jsonl")) + glob.glob(os.path.join(d, "mmlu_*.jsonl")):
        for line in open(p):
            r = json.loads(line)
            task = os.path.basename(p)[:-len(".jsonl")].removeprefix("samples_")
            # A reference part (compact --part) is mmlu_SUBJECT.pA-B.jsonl.
            subj = re.sub(r"\.p\d+-\d+$", "", task.replace("mmlu_local_", "").replace("mmlu_", ""))
            out[(subj, int(r["doc_id"]))] = r
    return out


def lls(r):
    if "ll" in r:
        return r["ll"]
    v = []
    for x in r["resps"]:
        x = x[0] if isinstance(x, list) and len(x) and isinstance(x[0], list) else x
        if isinstance(x, str):  # "(-1.23, False)" when dumped with default=str
            x = x.strip("()").split(",")
        v.append(float(x[0]))
    return v


def args_of(r):
    out = []
    args = r["arguments"]
    if isinstance(args, dict):  # lm-eval's samples file layout: {"gen_args_0": {...}, ...}
        args = [args[k] for k in sorted(args, key=lambda k: int(k.rsplit("_", 1)[1]))]
    for x in args:
        if isinstance(x, dict):
            if "arg_0" in x:
                out.append((x["arg_0"], x["arg_1"]))
            else:
                out.append((x.get("context"), x.get("continuation")))
        else:
            out.append((x[0], x[1]))
    return out


def args_key(r):
    if "args_sha256" in r:
        return r["args_sha256"]
    return hashlib.sha256(json.dumps(args_of(r), ensure_ascii=False).encode()).hexdigest()[:16]


def cmd_compact(a):
    """lm-eval's samples files → the committed reference: per subject, per question, the four
    options' log-likelihoods, lm-eval's acc, its prompt_hash (sha256 of the few-shot context) and a
    hash of all (context, continuation) arguments. ~110 bytes per question instead of ~10 KB."""
    os.makedirs(a.out, exist_ok=True)
    by_subj = {}
    for (subj, doc_id), r in load_samples(a.lmeval).items():
        by_subj.setdefault(subj, []).append((doc_id, r))
    shift, suffix = 0, ""
    if a.part:
        lo, hi = map(int, a.part.split("-"))
        suffix = f".p{lo}-{hi}"
        ids = sorted(d for rows in by_subj.values() for d, _ in rows)
        # lm-eval 0.4.13 --samples keeps the documents' indices; numbered 0.. is mapped back.
        if len(by_subj) == 1 and ids == list(range(hi - lo)) and lo > 0:
            shift = lo
        elif len(by_subj) != 1 or ids != list(range(lo, hi)):
            sys.exit(f"compact --part {a.part}: expected documents {lo}..{hi - 1} of one subject, got "
                     + ", ".join(f"{s}: {len(r)}" for s, r in by_subj.items()))
    for subj, rows in sorted(by_subj.items()):
        with open(os.path.join(a.out, f"mmlu_{subj}{suffix}.jsonl"), "w") as f:
            for doc_id, r in sorted(rows, key=lambda x: x[0]):
                doc_id += shift
                f.write(json.dumps({"doc_id": doc_id, "target": int(r["target"]),
                                    "ll": [round(x, 6) for x in lls(r)], "acc": float(r["acc"]),
                                    "prompt_hash": r["prompt_hash"][:16], "args_sha256": args_key(r)},
                                   separators=(",", ":")) + "\n")
        print(f"{subj}: {len(rows)} questions")


def cmd_tokdiff(a):
    """Which questions' contexts transformers' GGUF tokenizer splits differently from the model's
    own pre-tokenizer. transformers (5.24) maps tokenizer.ggml.pre to a split regex for a list of
    vocabularies that lacks "smollm", so it falls back to GPT-2's ByteLevel regex without
    SmolLM2's individual-digit split (llama.cpp and assay have it): "\\n\\n3" becomes [198, 198, 35]
    instead of [1116, 35]. lm-eval's hf backend reading the GGUF then scores other tokens."""
    import copy
    from tokenizers import pre_tokenizers
    from transformers import AutoTokenizer
    t = AutoTokenizer.from_pretrained(os.path.dirname(a.model), gguf_file=os.path.basename(a.model))
    own = copy.deepcopy(t.backend_tokenizer)
    own.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    out = []
    samples = load_samples(a.assay)
    for (subj, doc_id), r in sorted(samples.items()):
        ctx = args_of(r)[0][0]
        if t.encode(ctx, add_special_tokens=False) != own.encode(ctx, add_special_tokens=False).ids:
            out.append([subj, doc_id])
    print(f"{len(out)} of {len(samples)} contexts tokenize differently under transformers' GGUF tokenizer")
    json.dump(out, open(a.json, "w"))


def cmd_compare(a):
    A, L = load_samples(a.assay), load_samples(a.lmeval)
    keys = sorted(set(A) & set(L))
    if not keys:
        sys.exit(f"compare: no question is in both {a.assay} ({len(A)}) and {a.lmeval} ({len(L)})")
    only = (len(set(A) - set(L)), len(set(L) - set(A)))
    by_subj = {}
    agree = same_prompt = 0
    diffs, signed, centered, margins = [], [], [], []
    argmax_margin_flips = []
    prompt_mismatch = []
    exclude = set(map(tuple, json.load(open(a.tokdiff)))) if a.tokdiff else set()
    agree_same_tok = n_same_tok = 0
    for k in keys:
        ra, rl = A[k], L[k]
        la, ll_ = lls(ra), lls(rl)
        pa = max(range(4), key=lambda i: (la[i], -i))
        pl = max(range(4), key=lambda i: (ll_[i], -i))
        acc_a, acc_l = float(ra["acc"]), float(rl["acc"])
        s = by_subj.setdefault(k[0], [0, 0.0, 0.0, 0])
        s[0] += 1; s[1] += acc_a; s[2] += acc_l; s[3] += pa == pl
        agree += pa == pl
        if k not in exclude:
            n_same_tok += 1
            agree_same_tok += pa == pl
        if args_key(ra) == args_key(rl):
            same_prompt += 1
        else:
            prompt_mismatch.append(k)
        for x, y in zip(la, ll_):
            diffs.append(abs(x - y))
            signed.append(x - y)
        ma, ml = sum(la) / 4, sum(ll_) / 4
        for x, y in zip(la, ll_):
            centered.append(abs((x - ma) - (y - ml)))
        srt = sorted(ll_, reverse=True)
        margins.append(srt[0] - srt[1])
        if pa != pl:
            srt = sorted(ll_, reverse=True)
            argmax_margin_flips.append((k, round(srt[0] - srt[1], 4)))
    n = len(keys)
    tot_a = sum(v[1] for v in by_subj.values()) / n
    tot_l = sum(v[2] for v in by_subj.values()) / n
    macro_a = sum(v[1] / v[0] for v in by_subj.values()) / len(by_subj)
    macro_l = sum(v[2] / v[0] for v in by_subj.values()) / len(by_subj)
    diffs.sort()
    print(f"paired questions: {n} (only in assay: {only[0]}, only in lm-eval: {only[1]})")
    print(f"identical (context, continuation) arguments: {same_prompt}/{n}")
    print()
    print("| subject | n | assay acc | lm-eval acc | agreement |")
    print("|---|---:|---:|---:|---:|")
    for subj in sorted(by_subj):
        c, sa, sl, ag = by_subj[subj]
        print(f"| {subj} | {c} | {sa / c:.4f} | {sl / c:.4f} | {ag / c:.3f} |")
    print(f"| **all (micro)** | {n} | **{tot_a:.4f}** | **{tot_l:.4f}** | **{agree / n:.4f}** |")
    print(f"| all (macro over subjects) | {len(by_subj)} | {macro_a:.4f} | {macro_l:.4f} | |")
    print()
    print(f"accuracy difference (assay - lm-eval), micro: {100 * (tot_a - tot_l):+.2f} points")
    print(f"per-question agreement (same predicted option): {agree}/{n} = {100 * agree / n:.2f}%")
    if exclude:
        print(f"  on the {n_same_tok} questions both tokenize alike (--tokdiff): {agree_same_tok}/{n_same_tok} = "
              f"{100 * agree_same_tok / max(1, n_same_tok):.2f}%; on the {n - n_same_tok} others: "
              f"{agree - agree_same_tok}/{n - n_same_tok}")
    print(f"per-option |loglik difference| over {len(diffs)} options: max {diffs[-1]:.5f}, "
          f"mean {sum(diffs) / len(diffs):.5f}, median {diffs[len(diffs) // 2]:.5f}, "
          f"p99 {diffs[int(0.99 * (len(diffs) - 1))]:.5f}")
    centered.sort()
    print(f"mean signed difference (assay - lm-eval): {sum(signed) / len(signed):+.5f}; "
          f"option-centred |difference| (per-question common shift removed): "
          f"max {centered[-1]:.5f}, mean {sum(centered) / len(centered):.5f}")
    for t in (0.01, 0.05, 0.1):
        print(f"questions whose lm-eval top-2 margin < {t}: {sum(m < t for m in margins)}/{n}")
    if argmax_margin_flips:
        print("disagreements (subject, doc_id, lm-eval top-2 margin):",
              ", ".join(f"{k[0]}#{k[1]}:{m}" for k, m in argmax_margin_flips[:40]))
    if prompt_mismatch:
        print("prompt mismatches (first 10):", prompt_mismatch[:10])
    summary = {"n": n, "assay_acc": tot_a, "lmeval_acc": tot_l, "assay_macro": macro_a,
               "lmeval_macro": macro_l, "agreement": agree / n, "same_prompt": same_prompt,
               "ll_absdiff_max": diffs[-1], "ll_absdiff_mean": sum(diffs) / len(diffs),
               "disagreements": [[k[0], k[1], m] for k, m in argmax_margin_flips],
               "same_tokens_n": n_same_tok, "same_tokens_agreement": agree_same_tok / max(1, n_same_tok)}
    if a.json:
        json.dump(summary, open(a.json, "w"), indent=1)


def main():
    ap = argparse.ArgumentParser()
    sp = ap.add_subparsers(dest="cmd", required=True)
    p = sp.add_parser("prepare"); p.add_argument("--data", required=True); p.add_argument("--scratch", required=True)
    p = sp.add_parser("lmeval")
    p.add_argument("--scratch", required=True); p.add_argument("--model", required=True)
    p.add_argument("--out", required=True); p.add_argument("--limit", type=float, default=None)
    p.add_argument("--num-fewshot", type=int, default=5); p.add_argument("--n-ctx", type=int, default=8192)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tasks", default="mmlu_local")
    p.add_argument("--cache", default=None, help="lm-eval use_cache path: resumable runs")
    p.add_argument("--flash-attn", action="store_true",
                   help="llama.cpp flash attention on (calibration: llama.cpp against itself)")
    p = sp.add_parser("gguf-probe")
    p.add_argument("--data", required=True); p.add_argument("--url", required=True)
    p.add_argument("--num-fewshot", type=int, default=5)
    p = sp.add_parser("tokens")
    p.add_argument("--data", required=True); p.add_argument("--model", required=True)
    p.add_argument("--limit", type=int, default=None)
    p = sp.add_parser("compare")
    p.add_argument("--assay", required=True); p.add_argument("--lmeval", required=True)
    p.add_argument("--json")
    p.add_argument("--tokdiff", help="JSON from `tokdiff`: also report agreement without those questions")
    p = sp.add_parser("tokdiff")
    p.add_argument("--assay", required=True); p.add_argument("--model", required=True)
    p.add_argument("--json", required=True)
    p = sp.add_parser("compact")
    p.add_argument("--lmeval", required=True); p.add_argument("--out", required=True)
    p.add_argument("--part", help="A-B: the run scored documents A..B-1 of one subject (lm-eval "
                   "--samples); written as mmlu_SUBJECT.pA-B.jsonl")
    a = ap.parse_args()
    if getattr(a, "limit", None) is not None and a.limit >= 1:
        a.limit = int(a.limit)
    {"prepare": cmd_prepare, "lmeval": cmd_lmeval, "gguf-probe": cmd_gguf_probe, "tokens": cmd_tokens,
     "compare": cmd_compare, "compact": cmd_compact, "tokdiff": cmd_tokdiff}[a.cmd](a)


if __name__ == "__main__":
    main()
