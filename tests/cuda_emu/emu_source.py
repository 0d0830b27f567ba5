#!/usr/bin/env python3
"""Turns CUDA source (.cu, .cuh) into C++ for cuda-emu (include/cuda_emu.h): each launch
`kernel<<<grid, block, smem, stream>>>(args)` becomes
`::emu::launch("kernel", ::emu::LaunchCfg(grid, block, smem, stream), [=](auto... a) { kernel(a...); })(args)`,
`cudaFuncSetAttribute(kernel, ...)` names the kernel as its launches do, and
`extern __shared__ T name[];` a pointer to the block's dynamic shared memory. Line numbers are
kept (#line), so compiler errors and failures point at the CUDA file.

Usage: emu_source.py IN OUT
"""
import re
import sys

LAUNCH = re.compile(r"([A-Za-z_][\w:]*(?:<[^<>;(){}]*>)?)\s*<<<(.*?)>>>\s*\(", re.S)
ATTR = re.compile(r"cudaFuncSetAttribute\(\s*([A-Za-z_][\w:]*(?:<[^<>;(){}]*>)?)\s*,")
DYN_SHARED = re.compile(r"extern\s+__shared__\s+(?:__align__\(\s*\d+\s*\)\s+)?([\w ]+?)\s+(\w+)\s*\[\s*\]\s*;")


def main():
    src_path, out_path = sys.argv[1], sys.argv[2]
    src = open(src_path, encoding="utf-8").read()
    want = src.count("<<<")
    out, n = LAUNCH.subn(
        lambda m: f'::emu::launch("{m.group(1)}", ::emu::LaunchCfg({m.group(2)}), '
        f'[=](auto... a) {{ {m.group(1)}(a...); }})(', src)
    if n != want:
        sys.exit(f"{src_path}: rewrote {n} of {want} kernel launches")
    out = ATTR.sub(lambda m: f'::emu::set_func_attribute("{m.group(1)}",', out)
    out = DYN_SHARED.sub(r"\1* const \2 = reinterpret_cast<\1*>(::emu::dynamic_smem());", out)
    if re.search(r"extern\s+__shared__", out):
        sys.exit(f"{src_path}: an extern __shared__ declaration was not rewritten")
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(f'#line 1 "{src_path}"\n')
        f.write(out)


if __name__ == "__main__":
    main()
