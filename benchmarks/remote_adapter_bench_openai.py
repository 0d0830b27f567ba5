"""The peer of remote_adapter_bench: the official `openai` async client sending N chat requests,
INFLIGHT at a time, to the same trivial server. Prints one JSON line like the C++ client.

usage: python remote_adapter_bench_openai.py URL N INFLIGHT
"""
import asyncio
import json
import sys
import time

import openai


async def main(url: str, n: int, inflight: int) -> int:
    # The client as users make it: its default pool (1000 connections, 100 kept alive) admits
    # 512 in flight. A pool sized to INFLIGHT keep-alive connections measured 2x slower here.
    client = openai.AsyncOpenAI(base_url=url, api_key="unused", max_retries=0)
    sem = asyncio.Semaphore(inflight)

    async def one(i: int) -> bool:
        async with sem:
            r = await client.chat.completions.create(
                model="trivial", max_tokens=16, temperature=0,
                messages=[{"role": "user", "content": f"What is the capital of France? ({i})"}])
            return r.choices[0].message.content == "Paris."

    cpu0, t0 = time.process_time(), time.perf_counter()
    results = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    ok = sum(1 for r in results if r is True)
    print(json.dumps({"client": f"openai-python {openai.__version__}", "requests": n, "ok": ok,
                      "inflight": inflight, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
                      "req_per_s": round(n / wall, 1), "req_per_cpu_s": round(n / cpu, 1)}))
    await client.close()
    return 0 if ok == n else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))
