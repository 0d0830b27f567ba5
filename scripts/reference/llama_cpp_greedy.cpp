// llama_cpp_greedy: reference-peer helper, built OUTSIDE the assay build against a llama.cpp build
// (see make_llama_cpp_fixtures.sh). Not part of assay; it only calls llama.cpp's public C API.
//
// Usage: llama_cpp_greedy MODEL.gguf PROMPTS.hex N_PREDICT N_THREADS > out.txt
//   PROMPTS.hex: one prompt per line, the prompt's UTF-8 bytes as lowercase hex (so prompts may
//   contain newlines and any bytes).
// For each prompt, in order: clear the KV cache, tokenize with add_special=true (BOS if the vocab
// wants it) and parse_special=true (like llama-simple / llama-cli), decode the prompt as one batch,
// then greedily (llama_sampler_init_greedy) generate up to N_PREDICT tokens, stopping after an
// end-of-generation token (which is kept). Output, one line per prompt, tab-separated fields:
//   prompt_tokens=<ids,>  tokens=<ids,>  pieces=<hex,>  margins=<f,>  eog=<0|1>
// margins[i] = top1 logit - top2 logit at generation step i (to flag near-ties in tests).
// Pieces are llama_token_to_piece(special=true) bytes, hex encoded.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "llama.h"

static std::string from_hex(const std::string& h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) {
    out.push_back(static_cast<char>(std::strtol(h.substr(i, 2).c_str(), nullptr, 16)));
  }
  return out;
}

static std::string to_hex(const std::string& s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out.push_back(d[c >> 4]);
    out.push_back(d[c & 15]);
  }
  return out;
}

static void quiet_log(ggml_log_level level, const char* text, void*) {
  if (level >= GGML_LOG_LEVEL_WARN) fputs(text, stderr);
}

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s MODEL PROMPTS.hex N_PREDICT N_THREADS\n", argv[0]);
    return 2;
  }
  const int n_predict = std::atoi(argv[3]);
  const int n_threads = std::atoi(argv[4]);
  llama_log_set(quiet_log, nullptr);
  llama_backend_init();

  llama_model_params mparams = llama_model_default_params();
  mparams.n_gpu_layers = 0;
  llama_model* model = llama_model_load_from_file(argv[1], mparams);
  if (!model) {
    fprintf(stderr, "failed to load model\n");
    return 1;
  }
  const llama_vocab* vocab = llama_model_get_vocab(model);
  const int n_vocab = llama_vocab_n_tokens(vocab);

  llama_context_params cparams = llama_context_default_params();
  cparams.n_ctx = 2048;
  cparams.n_batch = 2048;
  cparams.n_threads = n_threads;
  cparams.n_threads_batch = n_threads;
  cparams.no_perf = true;
  // LLAMA_GREEDY_FLASH_ATTN=0/1 forces llama.cpp's attention path (default: its "auto"), to
  // measure how far llama.cpp's own two paths disagree (the noise floor for parity).
  if (const char* fa = std::getenv("LLAMA_GREEDY_FLASH_ATTN")) {
    cparams.flash_attn_type = std::atoi(fa) ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED;
  }
  llama_context* ctx = llama_init_from_model(model, cparams);
  if (!ctx) {
    fprintf(stderr, "failed to create context\n");
    return 1;
  }
  fprintf(stderr, "llama_cpp_greedy: n_vocab=%d add_bos=%d bos=%d type_k=%d type_v=%d flash_attn_type=%d\n",
          n_vocab, (int)llama_vocab_get_add_bos(vocab), (int)llama_vocab_bos(vocab), (int)cparams.type_k,
          (int)cparams.type_v, (int)cparams.flash_attn_type);

  llama_sampler* smpl = llama_sampler_chain_init(llama_sampler_chain_default_params());
  llama_sampler_chain_add(smpl, llama_sampler_init_greedy());

  std::ifstream in(argv[2]);
  std::string line;
  while (std::getline(in, line)) {
    const std::string prompt = from_hex(line);
    const int n = -llama_tokenize(vocab, prompt.data(), (int)prompt.size(), nullptr, 0, true, true);
    std::vector<llama_token> toks(n);
    if (llama_tokenize(vocab, prompt.data(), (int)prompt.size(), toks.data(), n, true, true) < 0) {
      fprintf(stderr, "tokenize failed\n");
      return 1;
    }
    llama_memory_clear(llama_get_memory(ctx), true);
    llama_sampler_reset(smpl);

    std::string f_prompt, f_tokens, f_pieces, f_margins;
    for (size_t i = 0; i < toks.size(); ++i) f_prompt += (i ? "," : "") + std::to_string(toks[i]);

    llama_batch batch = llama_batch_get_one(toks.data(), (int)toks.size());
    bool eog = false;
    llama_token tok = 0;
    for (int step = 0; step < n_predict; ++step) {
      if (llama_decode(ctx, batch) != 0) {
        fprintf(stderr, "decode failed\n");
        return 1;
      }
      const float* logits = llama_get_logits_ith(ctx, -1);
      float top1 = -1e30f, top2 = -1e30f;
      for (int v = 0; v < n_vocab; ++v) {
        if (logits[v] > top1) {
          top2 = top1;
          top1 = logits[v];
        } else if (logits[v] > top2) {
          top2 = logits[v];
        }
      }
      tok = llama_sampler_sample(smpl, ctx, -1);
      char buf[256];
      const int len = llama_token_to_piece(vocab, tok, buf, sizeof(buf), 0, true);
      if (len < 0) {
        fprintf(stderr, "token_to_piece failed\n");
        return 1;
      }
      char mbuf[32];
      snprintf(mbuf, sizeof(mbuf), "%.4f", top1 - top2);
      const char* sep = step ? "," : "";
      f_tokens += sep + std::to_string(tok);
      f_pieces += sep + to_hex(std::string(buf, len));
      f_margins += sep + std::string(mbuf);
      if (llama_vocab_is_eog(vocab, tok)) {
        eog = true;
        break;
      }
      batch = llama_batch_get_one(&tok, 1);
    }
    printf("prompt_tokens=%s\ttokens=%s\tpieces=%s\tmargins=%s\teog=%d\n", f_prompt.c_str(),
           f_tokens.c_str(), f_pieces.c_str(), f_margins.c_str(), eog ? 1 : 0);
    fflush(stdout);
  }
  llama_sampler_free(smpl);
  llama_free(ctx);
  llama_model_free(model);
  llama_backend_free();
  return 0;
}
