"""Exercises `assay serve` with the official openai Python client.

Usage: python openai_client_check.py BASE_URL   (e.g. http://127.0.0.1:8000/v1)
Exits non-zero on the first mismatch; prints what it saw.
"""
import sys

import openai

base_url = sys.argv[1]
client = openai.OpenAI(base_url=base_url, api_key=sys.argv[2] if len(sys.argv) > 2 else "none")

models = client.models.list()
model = models.data[0].id
print(f"models: {[m.id for m in models.data]}")

messages = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]
chat = client.chat.completions.create(model=model, messages=messages, temperature=0, max_tokens=40)
text = chat.choices[0].message.content
print(f"chat: {text!r} finish={chat.choices[0].finish_reason} usage={chat.usage}")
assert text and chat.usage.prompt_tokens > 0 and chat.usage.completion_tokens > 0

stream = client.chat.completions.create(model=model, messages=messages, temperature=0, max_tokens=40,
                                        stream=True, stream_options={"include_usage": True})
pieces, usage, n_chunks = [], None, 0
for chunk in stream:
    n_chunks += 1
    if chunk.usage:
        usage = chunk.usage
    for ch in chunk.choices:
        if ch.delta.content:
            pieces.append(ch.delta.content)
streamed = "".join(pieces)
print(f"stream: {n_chunks} chunks, text equal to non-streamed: {streamed == text}, usage={usage}")
assert streamed == text, (streamed, text)
assert usage is not None and usage.completion_tokens == chat.usage.completion_tokens

prompt = "The capital of France is Paris"
comp = client.completions.create(model=model, prompt=prompt, echo=True, logprobs=1, max_tokens=1, temperature=0)
lp = comp.choices[0].logprobs
print(f"completion echo: text={comp.choices[0].text!r}")
print(f"  tokens={lp.tokens}")
print(f"  token_logprobs={[None if x is None else round(x, 4) for x in lp.token_logprobs]}")
print(f"  text_offset={lp.text_offset}")
print(f"  top_logprobs[1]={lp.top_logprobs[1]}  usage={comp.usage}")
assert comp.choices[0].text.startswith(prompt)
assert lp.token_logprobs[0] is None and all(x is not None for x in lp.token_logprobs[1:])
assert lp.text_offset[-1] == len(prompt)  # the generated token starts right after the echo
ctx = next(i for i, o in enumerate(lp.text_offset) if o >= len("The capital of France is"))
print(f"  log P(' Paris' | 'The capital of France is') = {sum(lp.token_logprobs[ctx:-1]):.4f}")

plain = client.completions.create(model=model, prompt=["Once upon a time", "1, 2, 3,"], max_tokens=8, temperature=0)
print(f"completion list: {[c.text for c in plain.choices]} usage={plain.usage}")
assert len(plain.choices) == 2

try:
    client.completions.create(model=model, prompt="x", temperature=5)
    raise SystemExit("temperature 5 was accepted")
except openai.BadRequestError as e:
    print(f"bad request answered as the client expects: {e.status_code} {e.body}")
print("openai client: all checks passed")
