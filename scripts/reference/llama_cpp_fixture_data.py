#!/usr/bin/env python3
"""Inputs and output parsing for make_llama_cpp_fixtures.sh (llama.cpp reference fixtures).

Python standard library only. Subcommands:
  webtext JSONL N OUT            first N docs joined with "\\n\\n" (exact bytes, no trailing newline)
  prompts OUT.hex                the 100 greedy prompts, one per line, UTF-8 hex encoded
  greedy PROMPTS.hex RAW OUT BOS_ID ADD_BOS
                                 llama_cpp_greedy output -> greedy_32.jsonl
  strings OUT_DIR                the tokenizer strings, one file each (str_000.txt ...) + list.hex
  tokenize STR_DIR RESULTS OUT [SPECIAL_RAW]
                                 llama-tokenize outputs (+ llama_cpp_greedy N_PREDICT=0 output
                                 for parse_special=true) -> tokenize.jsonl
  ppl LOG OUT.json CTX           parse a llama-perplexity log -> {"ctx","n_chunks","ppl",...}
"""
import json
import os
import re
import sys

# ---------------------------------------------------------------------------------------------
# 100 prompts for greedy generation. Plain completions, questions, code, lists, multilingual,
# math, and ChatML-formatted ones (SmolLM2-Instruct's template).


def chatml(user, system=None):
    s = ""
    if system is not None:
        s += f"<|im_start|>system\n{system}<|im_end|>\n"
    return s + f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


PLAIN = [
    "The capital of France is",
    "Once upon a time, in a small village,",
    "The quick brown fox",
    "In 1969, Neil Armstrong",
    "Water boils at a temperature of",
    "The three primary colors are",
    "My favorite food is",
    "Photosynthesis is the process by which",
    "The best way to learn a new language is",
    "Here is a recipe for chocolate chip cookies:\n\nIngredients:\n-",
    "Q: What is the largest planet in the solar system?\nA:",
    "Q: Who wrote Romeo and Juliet?\nA:",
    "Question: How many legs does a spider have?\nAnswer:",
    "List of the days of the week:\n1. Monday\n2.",
    "Shopping list:\n- milk\n- eggs\n-",
    "Top 5 programming languages:\n1.",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "import numpy as np\n\n# create a 3x3 identity matrix\n",
    "#include <stdio.h>\n\nint main(void) {\n",
    "function add(a, b) {\n",
    "SELECT name, age FROM users WHERE",
    "<html>\n<head>\n<title>",
    "for i in range(10):\n",
    "class Stack:\n    def __init__(self):\n",
    "2 + 2 =",
    "12 * 12 =",
    "The square root of 144 is",
    "If x + 3 = 10, then x =",
    "1, 2, 3, 4, 5,",
    "3.14159265",
    "La capitale de la France est",
    "Der schnellste Weg nach Berlin ist",
    "El perro de mi vecino",
    "Il était une fois",
    "Het weer in Amsterdam is vandaag",
    "Привет, как",
    "日本の首都は",
    "我最喜欢的食物是",
    "مرحبا، كيف",
    "Dear Sir or Madam,\n\nI am writing to",
    "Abstract: In this paper, we propose",
    "BREAKING NEWS:",
    "Roses are red,\nViolets are blue,\n",
    "The meaning of life is",
    "    indented text with    several   spaces",
    "\n\n\nText after blank lines",
    "Emoji test 😀🎉 and then",
    "TL;DR:",
    "{\"name\": \"Alice\", \"age\":",
    "# Introduction\n\nThis document describes",
]

CHAT = [
    chatml("What is the capital of France?"),
    chatml("Write a haiku about the ocean."),
    chatml("What is 15 + 27?"),
    chatml("Explain photosynthesis in one sentence."),
    chatml("Translate 'good morning' into Spanish."),
    chatml("List three fruits."),
    chatml("Write a Python function that reverses a string."),
    chatml("Who was Albert Einstein?"),
    chatml("Hi!"),
    chatml("What is the boiling point of water in Fahrenheit?"),
    chatml("Give me a synonym for 'happy'."),
    chatml("How do I make a cup of tea?"),
    chatml("What is the square root of 81?"),
    chatml("Tell me a joke."),
    chatml("Summarize the plot of Cinderella in two sentences."),
    chatml("What does HTML stand for?"),
    chatml("Name the planets in the solar system."),
    chatml("Wat is de hoofdstad van Nederland?"),
    chatml("Quelle est la couleur du ciel ?"),
    chatml("¿Cuántos días tiene una semana?"),
    chatml("Write a SQL query that counts rows in a table named orders."),
    chatml("Is 17 a prime number? Answer yes or no."),
    chatml("Convert 5 kilometers to miles."),
    chatml("What is the difference between a list and a tuple in Python?"),
    chatml("Write a short poem about autumn."),
    chatml("If a train travels 60 km in 1 hour, how far does it travel in 3 hours?"),
    chatml("Solve for x: 2x + 4 = 10."),
    chatml("What year did World War II end?"),
    chatml("Describe a cat in three words."),
    chatml("What is machine learning?"),
    chatml("What is 7 times 8?", system="You are a helpful math tutor."),
    chatml("Who are you?", system="You are a helpful AI assistant named SmolLM, trained by Hugging Face"),
    chatml("Give me a tip for staying productive.", system="Answer briefly."),
    chatml("Write hello world in C.", system="You are a programming assistant."),
    chatml("What is the weather like on Mars?", system="You are a friendly astronomy guide."),
    chatml("Recommend a book.", system="You are a librarian."),
    chatml("What is the speed of light?"),
    chatml("Explain what a noun is."),
    chatml("How many continents are there?"),
    chatml("What is the chemical symbol for gold?"),
    chatml("Write an email subject line for a meeting reminder."),
    chatml("What is the opposite of 'cold'?"),
    chatml("Count from 1 to 10."),
    chatml("What's 100 divided by 4?"),
    chatml("Name a famous painting by Leonardo da Vinci."),
    chatml("How do you say 'thank you' in Japanese?"),
    chatml("What is the main ingredient in guacamole?"),
    chatml("Write a JavaScript arrow function that doubles a number."),
    chatml("Why is the sky blue?"),
    chatml("Can you help me plan a trip to Italy?"),
]

PROMPTS = PLAIN + CHAT
assert len(PROMPTS) == 100, len(PROMPTS)

# ---------------------------------------------------------------------------------------------
# ~200 strings for tokenizer parity: ASCII prose, whitespace runs, digits, punctuation, code,
# multilingual, emoji, special-token text, edge cases.

STRINGS = [
    "", " ", "  ", "   ", "\n", "\n\n", "\n\n\n", "\t", "\t\t", " \n ", "\r\n", "a", "A", "I",
    "Hello", "Hello world", "Hello, world!", " Hello", "  Hello", "Hello ", "hello\nworld",
    "The quick brown fox jumps over the lazy dog.",
    "THE QUICK BROWN FOX", "tHe QuIcK bRoWn FoX",
    "don't", "I'm", "you're", "they'll", "we've", "he'd", "It's", "DON'T", "o'clock",
    "rock 'n' roll", "\"quoted\"", "'single'", "(parens)", "[brackets]", "{braces}",
    "a,b,c", "a.b.c", "a-b-c", "a_b_c", "a/b/c", "a\\b\\c", "e-mail", "e.g.", "i.e.,",
    "...", "…", "!!!", "???", "?!", "--", "---", "—", "–", "~~~", "***", "###", "@@@", "$$$",
    "0", "1", "9", "10", "42", "100", "123", "1234", "12345", "123456789", "1234567890123",
    "3.14159", "-17", "+1", "1e10", "0x1F", "1,000,000", "1 000 000", "2024-01-15",
    "12:30:45", "50%", "$19.99", "€5", "£3.50", "¥1000", "1/2", "3/4", "10^6", "2^10=1024",
    "v1.2.3", "192.168.0.1", "IPv6 ::1", "phone: +1-555-0100",
    "user@example.com", "https://www.example.com/path?q=1&r=2#frag", "C:\\Windows\\System32",
    "/usr/local/bin", "~/.bashrc",
    "def f(x):\n    return x + 1\n",
    "def f(x):\n\treturn x + 1\n",
    "for (int i = 0; i < n; ++i) {\n    sum += a[i];\n}",
    "if (x == y && z != w || !v) { return; }",
    "#include <vector>\nstd::vector<int> v{1, 2, 3};",
    "console.log(`template ${x}`);",
    "SELECT * FROM t WHERE id = 1;",
    "<div class=\"main\"><p>Hi</p></div>",
    "{\"key\": [1, 2.5, null, true, \"s\"]}",
    "x = [i**2 for i in range(10) if i % 2 == 0]",
    "    four spaces", "        eight spaces", "                sixteen spaces",
    "a    b", "a\t\tb", "trailing spaces   ", "   leading spaces", "mixed \t \n whitespace",
    "line1\nline2\nline3", "line1\r\nline2\r\n", "\n\nparagraph\n\n",
    "camelCaseIdentifier", "snake_case_identifier", "SCREAMING_SNAKE_CASE", "PascalCase",
    "kebab-case-id", "__init__", "__name__ == '__main__'",
    "Bonjour, comment ça va ?", "Où est la bibliothèque ?", "Ça coûte trop cher.",
    "Grüße aus München!", "Straße", "Fußgängerübergang", "Äpfel, Öl, Übung",
    "¿Dónde está el baño?", "¡Hola, señor!", "El niño comió piñata.",
    "Goedemorgen, hoe gaat het?", "Het is een mooie dag.", "Curaçao, café, naïef",
    "Olá, tudo bem?", "São Paulo", "Ciao, come stai?", "Perché no?",
    "Zażółć gęślą jaźń", "Příliš žluťoučký kůň", "Árvíztűrő tükörfúrógép",
    "Привет, мир!", "Москва — столица России.", "Съешь же ещё этих мягких французских булок",
    "Γειά σου κόσμε", "αβγδεζηθ", "Ωμέγα",
    "שלום עולם", "مرحبا بالعالم", "السلام عليكم",
    "नमस्ते दुनिया", "हिन्दी", "বাংলা", "தமிழ்", "ภาษาไทย", "สวัสดี",
    "你好，世界！", "我爱北京天安门", "中文字符测试", "繁體中文",
    "こんにちは世界", "日本語のテキスト", "カタカナ", "ひらがな",
    "안녕하세요 세계", "한국어", "Tiếng Việt có dấu", "Xin chào",
    "😀", "😀😀😀", "🎉 party", "👍🏽", "👨‍👩‍👧‍👦", "🇳🇱🇫🇷", "❤️", "☕ coffee", "🚀🌕",
    "→ ← ↑ ↓", "∑ ∫ √ ∞ ≠ ≤ ≥", "α + β = γ", "E = mc²", "H₂O", "°C", "½ ¼ ¾", "©®™",
    "•bullet", "§ 12", "¶", "\u00a0nbsp", "zero\u200bwidth", "\ufeffBOM", "tab\there",
    "ﬁ ligature", "Ｆｕｌｌｗｉｄｔｈ", "é", "e\u0301", "ñ", "n\u0303",
    "<|im_start|>", "<|im_end|>", "<|endoftext|>",
    "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n",
    "text<|endoftext|>more text", "<|im_start", "im_start|>", "< |im_end| >",
    "<s>", "</s>", "<unk>", "[INST]", "<pad>",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "abababababababababab", "zzzzzzzzzz",
    "!!!!!!!!!!!!!!!!!!!!", "..........", "__________", "==========", "----------",
    "0000000000", "1111111111", "9999999999", "0.000001",
    "supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis",
    "antidisestablishmentarianism", "Donaudampfschifffahrtsgesellschaftskapitän",
    "The year 2023 had 365 days.", "Call me at 555-1234 before 5pm.",
    "Mr. Smith went to Washington D.C. on Jan. 5th.", "He said: \"It's 3:00 a.m.!\"",
    "A\nB\nC\nD", "word " * 10, "tokenization", " tokenization", "Tokenization",
    "untokenizable", "re-tokenize", "The the THE tHE",
]

# ---------------------------------------------------------------------------------------------


def hexline(s):
    return s.encode("utf-8").hex()


def cmd_webtext(jsonl, n, out):
    n = int(n)
    docs = []
    with open(jsonl, encoding="utf-8") as f:
        for line in f:
            docs.append(json.loads(line)["text"])
            if len(docs) == n:
                break
    text = "\n\n".join(docs)
    # llama.cpp's -f strips one trailing newline and (by default) processes backslash escapes;
    # keep the fixture free of both so the file bytes are exactly what llama.cpp tokenizes.
    assert "\\" not in text, "webtext sample contains a backslash; pick other docs"
    text = text.rstrip("\n")
    with open(out, "wb") as f:
        f.write(text.encode("utf-8"))


def cmd_prompts(out):
    with open(out, "w") as f:
        for p in PROMPTS:
            f.write(hexline(p) + "\n")


def ids(s):
    return [int(x) for x in s.split(",")] if s else []


def cmd_greedy(prompts_hex, raw, out, bos_id, add_bos):
    # bos_added: llama.cpp prepended BOS (vocab add_bos is true). A ChatML prompt's literal
    # leading <|im_start|> is the same id as SmolLM2's BOS (1) but was not *added*.
    bos_id = int(bos_id)
    add_bos = add_bos == "1"
    prompts = [bytes.fromhex(l.strip()).decode("utf-8") for l in open(prompts_hex) if l.strip()]
    rows = [l.rstrip("\n") for l in open(raw) if l.startswith("prompt_tokens=")]
    assert len(rows) == len(prompts), (len(rows), len(prompts))
    with open(out, "w", encoding="utf-8") as f:
        for p, r in zip(prompts, rows):
            fields = dict(kv.split("=", 1) for kv in r.split("\t"))
            pt = ids(fields["prompt_tokens"])
            toks = ids(fields["tokens"])
            pieces = [bytes.fromhex(h) for h in fields["pieces"].split(",")] if fields["pieces"] else []
            text = b"".join(pieces).decode("utf-8", errors="replace")
            rec = {
                "prompt": p,
                "prompt_tokens": pt,
                "bos_added": add_bos and bool(pt) and pt[0] == bos_id,
                "tokens": toks,
                "text": text,
                "stopped_at_eog": fields["eog"] == "1",
                "top1_margins": [float(x) for x in fields["margins"].split(",")] if fields["margins"] else [],
            }
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")


def cmd_strings(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    for i, s in enumerate(STRINGS):
        with open(os.path.join(out_dir, f"str_{i:03d}.txt"), "wb") as f:
            f.write(s.encode("utf-8"))
    with open(os.path.join(out_dir, "list.hex"), "w") as f:
        for s in STRINGS:
            f.write(hexline(s) + "\n")
    print(len(STRINGS))


def parse_ids(path):
    t = open(path).read().strip()
    m = re.search(r"\[([^\]]*)\]\s*$", t)
    assert m, f"{path}: no id list in {t!r}"
    return [int(x) for x in m.group(1).split(",") if x.strip()]


def cmd_tokenize(str_dir, results, out, special_raw=None):
    special = []
    if special_raw:
        special = [ids(dict(kv.split("=", 1) for kv in l.rstrip("\n").split("\t"))["prompt_tokens"])
                   for l in open(special_raw) if l.startswith("prompt_tokens=")]
        assert len(special) == len(STRINGS), (len(special), len(STRINGS))
    with open(out, "w", encoding="utf-8") as f:
        for i, s in enumerate(STRINGS):
            rec = {"text": s}
            for key in ("ids", "ids_no_bos", "ids_no_parse_special"):
                p = os.path.join(results, f"{key}_{i:03d}.txt")
                if os.path.exists(p):
                    rec[key] = parse_ids(p)
            if special:
                # must equal "ids" (llama-tokenize parses special tokens by default)
                assert special[i] == rec.get("ids", special[i]), (s, special[i], rec["ids"])
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")


def cmd_ppl(log, out, ctx):
    t = open(log, encoding="utf-8", errors="replace").read()
    m = re.search(r"Final estimate: PPL = ([0-9.]+) \+/- ([0-9.]+)", t)
    assert m, "no final estimate in log"
    chunks = [float(x) for x in re.findall(r"\[\d+\]([0-9.]+),", t)]
    cm = re.search(r"(?:calculating perplexity|computing) over (\d+) chunks, n_ctx=(\d+), batch_size=(\d+), n_seq=(\d+)", t)
    rec = {
        "ctx": int(ctx),
        "n_chunks": int(cm.group(1)) if cm else len(chunks),
        "batch_size": int(cm.group(3)) if cm else None,
        "n_seq": int(cm.group(4)) if cm else None,
        "ppl": float(m.group(1)),
        "ppl_stderr": float(m.group(2)),
        "running_ppl_per_chunk": chunks,
        "scored_tokens_per_chunk": int(ctx) - 1 - int(ctx) // 2,
    }
    with open(out, "w") as f:
        json.dump(rec, f, indent=1)
        f.write("\n")


def main(argv):
    cmds = {
        "webtext": cmd_webtext, "prompts": cmd_prompts, "greedy": cmd_greedy,
        "strings": cmd_strings, "tokenize": cmd_tokenize, "ppl": cmd_ppl,
    }
    if len(argv) < 2 or argv[1] not in cmds:
        print(__doc__)
        return 2
    cmds[argv[1]](*argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
