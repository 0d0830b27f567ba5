#!/usr/bin/env python3
"""Compact summary of a llama-perplexity --kl-divergence-base file (too big to keep whole).

Usage: llama_cpp_kld_summary.py BASE.bin OUT.json

Writes the header, the stored token table, and for every scored row (chunk-major, position order):
  scale, min_log_prob   the row's two f32 header values
  argmax                first index of the largest uint16 (the base model's top token)
  next_token            the token the row predicts (tokens[chunk*n_ctx + pos + 1])
  q_next                its uint16 value; log p_base(next) = scale*q_next + min_log_prob
  n_nonzero             how many uint16 are > 0 (vocab entries above max-16)
File layout: see /work/shared/reference/llama-perplexity.md section 2.
"""
import array
import hashlib
import json
import struct
import sys


def main(path, out):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"_logits_", "bad magic"
    n_ctx, n_vocab, n_chunk = struct.unpack_from("<iii", data, 8)
    off = 20
    tokens = list(struct.unpack_from(f"<{n_chunk * n_ctx}i", data, off))
    off += 4 * n_chunk * n_ctx
    nv = 2 * ((n_vocab + 1) // 2) + 4
    first = n_ctx // 2
    rows_per_chunk = n_ctx - 1 - first
    expect = off + n_chunk * rows_per_chunk * nv * 2
    assert len(data) == expect, (len(data), expect)
    cols = {k: [] for k in ("scale", "min_log_prob", "argmax", "next_token", "q_next", "n_nonzero")}
    nll_sum = 0.0
    for c in range(n_chunk):
        for r in range(rows_per_chunk):
            pos = first + r
            scale, min_lp = struct.unpack_from("<ff", data, off)
            q = array.array("H")
            q.frombytes(data[off + 8 : off + 8 + 2 * n_vocab])
            if sys.byteorder != "little":
                q.byteswap()
            off += 2 * nv
            nxt = tokens[c * n_ctx + pos + 1]
            top = max(q)
            cols["scale"].append(scale)
            cols["min_log_prob"].append(min_lp)
            cols["argmax"].append(q.index(top))
            cols["next_token"].append(nxt)
            cols["q_next"].append(q[nxt])
            cols["n_nonzero"].append(n_vocab - q.count(0))
            nll_sum -= scale * q[nxt] + min_lp
    n = n_chunk * rows_per_chunk
    import math

    rec = {
        "file_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "n_ctx": n_ctx,
        "n_vocab": n_vocab,
        "n_chunk": n_chunk,
        "row_uint16": nv,
        "rows_per_chunk": rows_per_chunk,
        "ppl_from_decoded_rows": math.exp(nll_sum / n),
        "tokens": tokens,
        "rows": cols,
    }
    with open(out, "w") as f:
        json.dump(rec, f, separators=(",", ":"))
        f.write("\n")
    print(f"{path}: n_ctx={n_ctx} n_vocab={n_vocab} n_chunk={n_chunk} rows={n} "
          f"ppl_from_rows={rec['ppl_from_decoded_rows']:.4f}")


if __name__ == "__main__":
    main(*sys.argv[1:])
