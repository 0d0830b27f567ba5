#include "engines/local/local_model.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <filesystem>
#include <list>
#include <numeric>
#include <random>

#include "engines/local/sampler.h"
#include "engines/local/vocab/hf_tokenizer_json.h"
#include "engines/local/vocab_from_gguf.h"
#include "harness/atomic_file.h"
#include "harness/csv.h"
#include "harness/log.h"
#include "harness/model_spec.h"
#include "harness/sha256.h"

namespace fs = std::filesystem;

namespace assay {
namespace {

constexpr int32_t kLogitRows = 32;

// Python's str.rstrip() on ASCII whitespace plus the Unicode spaces lm-eval contexts contain.
size_t trailing_space_bytes(std::string_view s) {
  size_t n = s.size();
  while (n > 0) {
    unsigned char c = static_cast<unsigned char>(s[n - 1]);
    if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)) { --n; continue; }
    if (n >= 2 && static_cast<unsigned char>(s[n - 2]) == 0xC2 && (c == 0x85 || c == 0xA0)) { n -= 2; continue; }
    break;
  }
  return s.size() - n;
}

}  // namespace

Result<std::string> model_file_identity(const std::string& path) {
  std::error_code ec;
  std::vector<fs::path> files;
  if (fs::is_directory(path, ec)) {
    for (const auto& e : fs::directory_iterator(path)) {
      std::string ext = e.path().extension().string();
      if (ext == ".safetensors" || ext == ".json" || ext == ".model") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(path);
  }
  Sha256 all;
  std::string single;
  for (const auto& f : files) {
    struct stat st{};
    if (::stat(f.c_str(), &st) != 0) return not_found(f.string() + ": cannot stat");
    std::string abs = fs::absolute(f, ec).string();
    std::string memo_key = sha256_hex(abs + "|" + std::to_string(st.st_size) + "|" +
                                      std::to_string(st.st_mtim.tv_sec) + "." +
                                      std::to_string(st.st_mtim.tv_nsec));
    std::string memo = models_dir() + "/.hashes/" + memo_key;
    std::string digest;
    if (auto m = read_file(memo); m.ok() && m->size() == 64) {
      digest = *m;
    } else {
      ASSAY_ASSIGN_OR_RETURN(digest, sha256_file(f.string()));
      fs::create_directories(models_dir() + "/.hashes", ec);
      if (!ec) (void)write_file_atomic(memo, digest);
    }
    single = digest;
    all.update(f.filename().string() + ":" + digest + "\n");
  }
  // A single file's identity is its plain sha256 (what `sha256sum` prints).
  return files.size() == 1 ? single : all.hex_digest();
}

LocalModel::~LocalModel() {
  forward_.reset();
  if (ops_) {
    for (float* p : {hidden_store_, hidden_tmp_, logits_, pair_logits_}) {
      if (p) ops_->free(p);
    }
  }
}

Result<std::unique_ptr<LocalModel>> LocalModel::load(const std::string& path,
                                                     const std::string& spec,
                                                     std::unique_ptr<Ops> ops,
                                                     const LocalModelOptions& opts) {
  std::unique_ptr<LocalModel> m(new LocalModel());
  ASSAY_ASSIGN_OR_RETURN(m->files_, ModelFiles::open(path));
  const ModelFiles& f = *m->files_;
  auto vocab = f.gguf() ? vocab_from_gguf(*f.gguf()) : vocab_from_hf_dir(path);
  if (vocab.ok()) {
    ASSAY_ASSIGN_OR_RETURN(m->tokenizer_, Tokenizer::create(std::move(vocab).value()));
  } else if (opts.require_tokenizer) {
    return vocab.status();
  }
  const LlamaHparams& hp = f.hparams();
  if (m->tokenizer_ && m->tokenizer_->n_vocab() > hp.n_vocab) {
    return corrupt(path + ": the tokenizer has " + std::to_string(m->tokenizer_->n_vocab()) +
                   " tokens but the model's embedding has " + std::to_string(hp.n_vocab) +
                   " rows (model/tokenizer mismatch)");
  }
  if (!opts.chat_template.empty()) {
    ASSAY_ASSIGN_OR_RETURN(auto t, ChatTemplate::from_name(opts.chat_template));
    m->chat_template_ = t;
  } else if (f.chat_template()) {
    auto t = ChatTemplate::from_jinja(*f.chat_template());
    if (t.ok()) m->chat_template_ = *t;
    else ASSAY_LOG(kDebug) << "chat template not recognized: " << t.status().message();
  }
  m->n_ctx_ = opts.n_ctx > 0 ? opts.n_ctx
                             : static_cast<int32_t>(std::min<int64_t>(hp.n_ctx_train > 0 ? hp.n_ctx_train : 4096, 4096));
  // Without cache_rows: a fixed default on the CPU; on a backend that reports its free memory,
  // what is left of it once the weights are in (at least that default).
  const int32_t min_rows = std::max(2 * m->n_ctx_, 8192);
  const int32_t want_rows = opts.cache_rows > 0 ? std::max(opts.cache_rows, m->n_ctx_ + 1) : 0;
  m->n_batch_ = std::max<int32_t>(1, opts.n_batch);
  m->add_bos_ = opts.add_bos.value_or(m->tokenizer_ && m->tokenizer_->add_bos());
  m->ops_ = std::move(ops);
  ASSAY_ASSIGN_OR_RETURN(m->forward_,
                         LlamaForward::create(*m->ops_, f, want_rows, m->n_batch_, opts.kv_type, min_rows,
                                              sizeof(float) * static_cast<size_t>(hp.n_embd)));
  const int32_t rows = m->forward_->cache_rows();
  m->cache_ = std::make_unique<PrefixCache>(rows);
  m->row_scores_.assign(static_cast<size_t>(rows), RowScore{});
  size_t n_embd = static_cast<size_t>(hp.n_embd), n_vocab = static_cast<size_t>(hp.n_vocab);
  m->hidden_store_ = static_cast<float*>(m->ops_->alloc(sizeof(float) * n_embd * rows));
  // Also holds up to kLogitRows gathered rows for the output projection.
  m->hidden_tmp_ = static_cast<float*>(
      m->ops_->alloc(sizeof(float) * n_embd * std::max(m->n_batch_, kLogitRows)));
  m->logits_ = static_cast<float*>(m->ops_->alloc(sizeof(float) * n_vocab * kLogitRows));
  m->pair_logits_ = static_cast<float*>(m->ops_->alloc(sizeof(float) * n_vocab * kLogitRows));

  ModelInfo& info = m->info_;
  info.spec = spec;
  info.id = fs::path(path).filename().string();
  if (info.id.size() > 5 && info.id.substr(info.id.size() - 5) == ".gguf") info.id.resize(info.id.size() - 5);
  ASSAY_ASSIGN_OR_RETURN(std::string ident, model_file_identity(path));
  info.backend = std::string(m->ops_->name());
  // The request cache must never serve one numerics' answer to another: any backend or KV type
  // other than the default CPU one is part of the identity (the default keeps the plain
  // "local:<sha256>" so earlier runs still resume).
  info.identity = "local:" + ident;
  if (info.backend != "cpu-avx2") info.identity += "|" + info.backend;
  if (opts.kv_type != GgmlType::F16) {
    info.identity += "|kv=" + std::string(ggml_type_traits(static_cast<uint32_t>(opts.kv_type))->name);
  }
  info.n_ctx = m->n_ctx_;
  info.supports_loglikelihood = true;
  info.supports_rolling = true;
  info.details = {{"architecture", llama_arch_name(hp.arch)},
                  {"path", path},
                  {"quantization", weight_types(*m->files_)},
                  {"n_layer", std::to_string(hp.n_layer)},
                  {"n_embd", std::to_string(hp.n_embd)},
                  {"n_vocab", std::to_string(hp.n_vocab)},
                  {"kv_type", std::string(ggml_type_traits(static_cast<uint32_t>(opts.kv_type))->name)},
                  {"add_bos", m->add_bos_ ? "true" : "false"},
                  {"chat_template", m->chat_template_ ? m->chat_template_->name() : "none"}};
  return m;
}

Status LocalModel::no_tokenizer() const {
  return failed_precondition(files_->path() + ": no tokenizer files; text requests need "
                             "tokenizer.json or a GGUF with tokenizer metadata");
}

std::vector<int32_t> LocalModel::encode(std::string_view text) const {
  return tokenizer_->encode(text, false, false);
}

Result<std::string> LocalModel::render_chat(std::span<const ChatMessage> messages) const {
  if (!chat_template_) {
    return failed_precondition(info_.spec + ": the model has no chat template assay recognizes; "
                               "pass --model-args chat_template=NAME (" + [] {
                                 std::string s;
                                 for (const auto& n : ChatTemplate::names()) s += (s.empty() ? "" : ", ") + n;
                                 return s;
                               }() + ")");
  }
  ChatRenderOptions o;
  return chat_template_->render(messages, o);
}

std::optional<std::vector<int32_t>> LocalModel::pin_path(std::span<const int32_t> tokens,
                                                         std::vector<int32_t>* created) {
  std::vector<int32_t> nodes;
  nodes.reserve(tokens.size());
  int32_t cur = PrefixCache::kRoot;
  for (int32_t t : tokens) {
    bool is_new = false;
    int32_t c = cache_->child(cur, t, &is_new);
    if (c < 0) {
      unpin_path(nodes);
      return std::nullopt;
    }
    cache_->pin(c);
    nodes.push_back(c);
    if (is_new) created->push_back(c);
    cur = c;
  }
  return nodes;
}

void LocalModel::unpin_path(const std::vector<int32_t>& nodes) {
  for (int32_t n : nodes) cache_->unpin(n);
}

void LocalModel::compute_nodes(const std::vector<int32_t>& new_nodes) {
  // Parents always precede children in new_nodes (paths are walked root first), so a micro-batch
  // never needs a row computed by a later one.
  const int64_t n_embd = forward_->hparams().n_embd;
  std::vector<int32_t> ids, pos, rows, layout_rows, seq_offsets, token_seq, token_n_kv;
  for (size_t start = 0; start < new_nodes.size(); start += static_cast<size_t>(n_batch_)) {
    size_t end = std::min(new_nodes.size(), start + static_cast<size_t>(n_batch_));
    ids.clear(); pos.clear(); rows.clear(); layout_rows.clear(); seq_offsets.assign(1, 0);
    token_seq.clear(); token_n_kv.clear();
    int32_t prev = -1;
    for (size_t i = start; i < end; ++i) {
      int32_t node = new_nodes[i];
      ids.push_back(cache_->token(node));
      pos.push_back(cache_->position(node));
      rows.push_back(cache_->row(node));
      // A token continuing the previous one's chain extends that sequence's row list.
      if (prev >= 0 && cache_->parent(node) == prev) {
        layout_rows.push_back(cache_->row(node));
        seq_offsets.back() = static_cast<int32_t>(layout_rows.size());
      } else {
        cache_->path_rows(node, &layout_rows);
        seq_offsets.push_back(static_cast<int32_t>(layout_rows.size()));
      }
      token_seq.push_back(static_cast<int32_t>(seq_offsets.size()) - 2);
      token_n_kv.push_back(cache_->position(node) + 1);
      prev = node;
    }
    AttentionLayout layout{layout_rows, seq_offsets, token_seq, token_n_kv};
    forward_->forward(ids, pos, rows, layout, hidden_tmp_);
    // Keep each token's final hidden state at its row for later logits. A row's cached score
    // belonged to the state it held before (every new node is computed here before it is
    // scored), so it is forgotten.
    for (size_t i = 0; i < rows.size(); ++i) {
      row_scores_[static_cast<size_t>(rows[i])].valid = false;
      // One row at a time: rows are scattered. gather_rows of a single source row is a copy.
      int32_t one = static_cast<int32_t>(i);
      ops_->gather_rows(hidden_tmp_, n_embd, std::span<const int32_t>(&one, 1), n_embd,
                        hidden_store_ + static_cast<int64_t>(rows[i]) * n_embd);
    }
    tokens_computed_ += static_cast<int64_t>(ids.size());
  }
}

void LocalModel::score_pairs(const std::vector<int32_t>& nodes, const std::vector<int32_t>& targets,
                             std::vector<float>* logprobs, std::vector<int32_t>* argmax,
                             std::vector<float>* argmax_logprobs) {
  const int64_t n_embd = forward_->hparams().n_embd;
  const int64_t n_vocab = forward_->hparams().n_vocab;
  logprobs->assign(nodes.size(), 0.0f);
  argmax->assign(nodes.size(), -1);
  if (argmax_logprobs) argmax_logprobs->assign(nodes.size(), 0.0f);
  // Unique rows get their logits once; pairs gather from them.
  size_t i = 0;
  while (i < nodes.size()) {
    std::vector<int32_t> uniq_rows, pair_idx;
    std::vector<size_t> pair_pos;
    std::vector<int32_t> pair_targets;
    size_t j = i;
    for (; j < nodes.size(); ++j) {
      int32_t r = cache_->row(nodes[j]);
      auto it = std::find(uniq_rows.begin(), uniq_rows.end(), r);
      if (it == uniq_rows.end()) {
        if (static_cast<int32_t>(uniq_rows.size()) == kLogitRows) break;
        uniq_rows.push_back(r);
        it = uniq_rows.end() - 1;
      }
      if (static_cast<int32_t>(pair_idx.size()) == kLogitRows) break;
      pair_idx.push_back(static_cast<int32_t>(it - uniq_rows.begin()));
      pair_targets.push_back(targets[j]);
      pair_pos.push_back(j);
    }
    ops_->gather_rows(hidden_store_, n_embd, uniq_rows, n_embd, hidden_tmp_);
    forward_->logits(hidden_tmp_, static_cast<int64_t>(uniq_rows.size()), logits_);
    ops_->gather_rows(logits_, n_vocab, pair_idx, n_vocab, pair_logits_);
    std::vector<float> lp(pair_idx.size());
    std::vector<int32_t> am(pair_idx.size());
    ops_->token_logprobs(pair_logits_, static_cast<int64_t>(pair_idx.size()), n_vocab, pair_targets,
                         lp.data(), am.data(), nullptr);
    std::vector<float> am_lp;
    if (argmax_logprobs) {
      // The same op on the same rows, targeting the argmax: one pass over the vocabulary, where
      // recomputing the logits for a top-1 list would cost the whole output head again.
      am_lp.resize(pair_idx.size());
      ops_->token_logprobs(pair_logits_, static_cast<int64_t>(pair_idx.size()), n_vocab, am, am_lp.data(),
                           nullptr, nullptr);
    }
    for (size_t k = 0; k < pair_pos.size(); ++k) {
      (*logprobs)[pair_pos[k]] = lp[k];
      (*argmax)[pair_pos[k]] = am[k];
      if (argmax_logprobs) (*argmax_logprobs)[pair_pos[k]] = am_lp[k];
    }
    i = j;
  }
}

std::vector<Result<TokenScore>> LocalModel::score_tokens(std::span<const TokenScoreItem> items) {
  std::vector<Result<TokenScore>> out(items.size(), Result<TokenScore>(TokenScore{}));
  std::vector<size_t> order;
  for (size_t i = 0; i < items.size(); ++i) {
    const auto& it = items[i];
    if (it.n_prefix < 1 || it.n_prefix > static_cast<int32_t>(it.tokens.size())) {
      out[i] = invalid_argument("nothing to score: " + std::to_string(it.tokens.size()) +
                                " tokens with a prefix of " + std::to_string(it.n_prefix));
    } else if (static_cast<int64_t>(it.tokens.size()) > n_ctx_ + 1) {
      out[i] = invalid_argument("request of " + std::to_string(it.tokens.size() - 1) +
                                " tokens is longer than the context (" + std::to_string(n_ctx_) +
                                " tokens; --model-args n_ctx=N to raise it)");
    } else if (it.n_prefix == static_cast<int32_t>(it.tokens.size())) {
      // Empty continuation: log-prob 0, greedy.
    } else {
      order.push_back(i);
    }
  }
  // Lexicographic order puts shared prefixes side by side.
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::lexicographical_compare(items[a].tokens.begin(), items[a].tokens.end(),
                                        items[b].tokens.begin(), items[b].tokens.end()) ||
           (items[a].tokens == items[b].tokens && a < b);
  });
  struct Live {
    size_t item;
    std::vector<int32_t> nodes;
  };
  std::vector<Live> wave;
  std::vector<int32_t> created;
  auto flush = [&]() {
    compute_nodes(created);
    created.clear();
    const bool want_argmax_lp = std::any_of(wave.begin(), wave.end(), [&](const Live& l) {
      return items[l.item].want_token_logprobs;
    });
    // Every scored position in wave order; those whose token has a node (all but each item's
    // last) may come from row_scores_, the rest go through the output head.
    std::vector<RowScore> slot;
    std::vector<int32_t> pair_nodes, pair_targets, pair_slot, pair_row;
    for (const Live& l : wave) {
      const auto& it = items[l.item];
      for (size_t p = static_cast<size_t>(it.n_prefix); p < it.tokens.size(); ++p) {
        int32_t row = p < l.nodes.size() ? cache_->row(l.nodes[p]) : -1;
        if (row >= 0) {
          const RowScore& rs = row_scores_[static_cast<size_t>(row)];
          if (rs.valid && (rs.has_argmax_logprob || !want_argmax_lp)) {
            slot.push_back(rs);
            ++scores_reused_;
            continue;
          }
        }
        pair_slot.push_back(static_cast<int32_t>(slot.size()));
        pair_row.push_back(row);
        pair_nodes.push_back(l.nodes[p - 1]);
        pair_targets.push_back(it.tokens[p]);
        slot.emplace_back();
      }
    }
    std::vector<float> lp, am_lp;
    std::vector<int32_t> am;
    score_pairs(pair_nodes, pair_targets, &lp, &am, want_argmax_lp ? &am_lp : nullptr);
    for (size_t j = 0; j < pair_slot.size(); ++j) {
      RowScore rs{lp[j], want_argmax_lp ? am_lp[j] : 0.0f, am[j], true, want_argmax_lp};
      slot[static_cast<size_t>(pair_slot[j])] = rs;
      if (pair_row[j] >= 0) row_scores_[static_cast<size_t>(pair_row[j])] = rs;
    }
    size_t k = 0;
    for (const Live& l : wave) {
      const auto& it = items[l.item];
      TokenScore s;
      for (size_t p = static_cast<size_t>(it.n_prefix); p < it.tokens.size(); ++p, ++k) {
        const RowScore& rs = slot[k];
        s.logprob += static_cast<double>(rs.logprob);
        s.is_greedy = s.is_greedy && rs.argmax == it.tokens[p];
        if (it.want_token_logprobs) {
          s.token_logprobs.push_back(rs.logprob);
          s.argmax.push_back(rs.argmax);
          s.argmax_logprobs.push_back(rs.argmax_logprob);
        }
      }
      out[l.item] = s;
      unpin_path(l.nodes);
    }
    wave.clear();
  };
  const size_t wave_budget = static_cast<size_t>(n_batch_) * 4;
  for (size_t idx : order) {
    const auto& it = items[idx];
    // Rows needed: every token but the last (nothing is predicted after it).
    std::span<const int32_t> path(it.tokens.data(), it.tokens.size() - 1);
    auto nodes = pin_path(path, &created);
    if (!nodes && !wave.empty()) {
      flush();
      nodes = pin_path(path, &created);
    }
    if (!nodes) {
      out[idx] = resource_exhausted("request of " + std::to_string(path.size()) +
                                    " tokens does not fit the KV cache");
      continue;
    }
    wave.push_back({idx, std::move(*nodes)});
    if (created.size() >= wave_budget) flush();
  }
  if (!wave.empty() || !created.empty()) flush();
  return out;
}

Result<std::vector<float>> LocalModel::last_logits(std::span<const int32_t> tokens) {
  if (tokens.empty()) return invalid_argument("no tokens");
  if (static_cast<int64_t>(tokens.size()) > n_ctx_) return invalid_argument("longer than the context");
  std::vector<int32_t> created;
  auto nodes = pin_path(tokens, &created);
  if (!nodes) return resource_exhausted("does not fit the KV cache");
  compute_nodes(created);
  const int64_t n_embd = forward_->hparams().n_embd, n_vocab = forward_->hparams().n_vocab;
  int32_t row = cache_->row(nodes->back());
  ops_->gather_rows(hidden_store_, n_embd, std::span<const int32_t>(&row, 1), n_embd, hidden_tmp_);
  forward_->logits(hidden_tmp_, 1, logits_);
  std::vector<float> out(static_cast<size_t>(n_vocab));
  ops_->download(out.data(), logits_, sizeof(float) * out.size());
  unpin_path(*nodes);
  return out;
}

Result<std::vector<float>> LocalModel::logits_range(std::span<const int32_t> tokens,
                                                    int32_t first, int32_t last) {
  if (first < 0 || last < first || last >= static_cast<int32_t>(tokens.size())) {
    return invalid_argument("logits_range: bad positions");
  }
  if (static_cast<int64_t>(tokens.size()) > n_ctx_) return invalid_argument("longer than the context");
  std::vector<int32_t> created;
  auto nodes = pin_path(tokens.subspan(0, static_cast<size_t>(last) + 1), &created);
  if (!nodes) return resource_exhausted("does not fit the KV cache");
  compute_nodes(created);
  const int64_t n_embd = forward_->hparams().n_embd, n_vocab = forward_->hparams().n_vocab;
  std::vector<float> out(static_cast<size_t>(last - first + 1) * static_cast<size_t>(n_vocab));
  for (int32_t p0 = first; p0 <= last; p0 += kLogitRows) {
    int32_t p1 = std::min(last + 1, p0 + kLogitRows);
    std::vector<int32_t> rows;
    for (int32_t p = p0; p < p1; ++p) rows.push_back(cache_->row((*nodes)[p]));
    ops_->gather_rows(hidden_store_, n_embd, rows, n_embd, hidden_tmp_);
    forward_->logits(hidden_tmp_, static_cast<int64_t>(rows.size()), logits_);
    ops_->download(out.data() + static_cast<size_t>(p0 - first) * static_cast<size_t>(n_vocab), logits_,
                   sizeof(float) * rows.size() * static_cast<size_t>(n_vocab));
  }
  unpin_path(*nodes);
  return out;
}

std::vector<Result<LoglikelihoodResponse>> LocalModel::loglikelihood(
    std::span<const LoglikelihoodRequest> requests) {
  if (!tokenizer_) {
    return std::vector<Result<LoglikelihoodResponse>>(requests.size(), no_tokenizer());
  }
  std::vector<TokenScoreItem> items(requests.size());
  std::vector<int32_t> n_cont(requests.size());
  std::vector<Status> failed(requests.size());
  int32_t prefix_tok = tokenizer_->bos_id() >= 0 ? tokenizer_->bos_id() : tokenizer_->eos_id();
  for (size_t i = 0; i < requests.size(); ++i) {
    std::string context = requests[i].context, continuation = requests[i].continuation;
    // A chat render is text with the template's special tokens (and BOS, if the template has
    // one) spelled out; lm-eval's HF backend tokenizes it with those parsed and adds nothing.
    const bool chat = !requests[i].messages.empty();
    if (chat) {
      auto rendered = render_chat(requests[i].messages);
      if (!rendered.ok()) {
        failed[i] = rendered.status();
        items[i].tokens = {prefix_tok, prefix_tok};
        items[i].n_prefix = 1;
        continue;
      }
      context = std::move(rendered).value();
    }
    // lm-eval moves the context's trailing whitespace (a chat render's final "\n" too) onto
    // the continuation.
    size_t sp = trailing_space_bytes(context);
    if (sp > 0) {
      continuation = context.substr(context.size() - sp) + continuation;
      context.resize(context.size() - sp);
    }
    std::vector<int32_t> whole, ctx;
    if (context.empty()) {
      ctx = {prefix_tok};
      whole = ctx;
      auto c = encode(continuation);
      whole.insert(whole.end(), c.begin(), c.end());
    } else if (chat) {
      whole = tokenizer_->encode(context + continuation, false, true);
      ctx = tokenizer_->encode(context, false, true);
    } else {
      whole = encode(context + continuation);
      ctx = encode(context);
      if (add_bos_ && tokenizer_->bos_id() >= 0) {
        whole.insert(whole.begin(), tokenizer_->bos_id());
        ctx.insert(ctx.begin(), tokenizer_->bos_id());
      }
    }
    size_t n_ctx_tok = std::min(ctx.size(), whole.size());
    items[i].tokens = std::move(whole);
    items[i].n_prefix = static_cast<int32_t>(std::max<size_t>(1, n_ctx_tok));
    n_cont[i] = static_cast<int32_t>(items[i].tokens.size()) - items[i].n_prefix;
  }
  auto scores = score_tokens(items);
  std::vector<Result<LoglikelihoodResponse>> out;
  out.reserve(requests.size());
  for (size_t i = 0; i < scores.size(); ++i) {
    if (!failed[i].ok()) {
      out.push_back(failed[i]);
      continue;
    }
    if (!scores[i].ok()) {
      out.push_back(scores[i].status());
      continue;
    }
    LoglikelihoodResponse r{scores[i]->logprob, scores[i]->is_greedy, n_cont[i]};
    // Usage as an API would bill it: every token fed in (shared prefixes counted per request).
    r.usage.prompt_tokens = static_cast<int64_t>(items[i].tokens.size());
    r.usage.reported = true;
    out.push_back(r);
  }
  return out;
}

std::vector<Result<RollingResponse>> LocalModel::loglikelihood_rolling(
    std::span<const RollingRequest> requests) {
  if (!tokenizer_) return std::vector<Result<RollingResponse>>(requests.size(), no_tokenizer());
  // lm-eval get_rolling_token_windows(context_len=1) + make_disjoint_window.
  int32_t prefix_tok = tokenizer_->bos_id() >= 0 ? tokenizer_->bos_id() : tokenizer_->eos_id();
  const size_t max_len = static_cast<size_t>(n_ctx_);
  std::vector<TokenScoreItem> items;
  std::vector<size_t> owner;
  std::vector<int64_t> n_tokens(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    std::vector<int32_t> toks = encode(requests[i].text);
    n_tokens[i] = static_cast<int64_t>(toks.size());
    if (toks.empty()) continue;
    size_t first = std::min(max_len, toks.size());
    TokenScoreItem w;
    w.tokens.push_back(prefix_tok);
    w.tokens.insert(w.tokens.end(), toks.begin(), toks.begin() + static_cast<std::ptrdiff_t>(first));
    w.n_prefix = 1;
    items.push_back(std::move(w));
    owner.push_back(i);
    size_t predicted = first;
    while (predicted < toks.size()) {
      size_t len = std::min(toks.size() - predicted, max_len);
      size_t end = predicted + len;
      // Context: the max_len tokens before the window's predictions, less the overlap.
      size_t ctx_start = end > max_len ? end - max_len - 1 : 0;
      TokenScoreItem x;
      x.tokens.assign(toks.begin() + static_cast<std::ptrdiff_t>(ctx_start), toks.begin() + static_cast<std::ptrdiff_t>(end));
      x.n_prefix = static_cast<int32_t>(predicted - ctx_start);
      items.push_back(std::move(x));
      owner.push_back(i);
      predicted = end;
    }
  }
  auto scores = score_tokens(items);
  std::vector<Result<RollingResponse>> out(requests.size(), Result<RollingResponse>(RollingResponse{}));
  for (size_t i = 0; i < requests.size(); ++i) {
    RollingResponse r;
    r.n_tokens = n_tokens[i];
    r.usage.prompt_tokens = n_tokens[i];
    r.usage.reported = true;
    out[i] = r;
  }
  for (size_t k = 0; k < scores.size(); ++k) {
    size_t i = owner[k];
    if (!out[i].ok()) continue;
    if (!scores[k].ok()) {
      out[i] = scores[k].status();
      continue;
    }
    RollingResponse r = *out[i];
    r.logprob += scores[k]->logprob;
    out[i] = r;
  }
  return out;
}

std::vector<Result<GenerateResponse>> LocalModel::generate_until(
    std::span<const GenerateRequest> requests) {
  if (!tokenizer_) return std::vector<Result<GenerateResponse>>(requests.size(), no_tokenizer());
  std::vector<Result<GenerateResponse>> out(requests.size(), Result<GenerateResponse>(GenerateResponse{}));
  struct Seq {
    size_t req;
    std::vector<int32_t> nodes;   // pinned path
    std::vector<int32_t> generated;
    std::string text;
    std::unique_ptr<StreamDecoder> decoder;
    std::mt19937_64 rng;
    int32_t prompt_len = 0;
    int32_t max_new = 0;  // rows its answer may still add (reserved at admission)
    bool done = false;
  };
  const int64_t n_vocab = forward_->hparams().n_vocab;
  const int64_t n_embd = forward_->hparams().n_embd;
  // Continuous batching: up to max_active sequences decode together, one token each per step;
  // as soon as one finishes its path is released and the next request is admitted, its prompt
  // computed in the same forward pass as the others' next tokens. (Fixed waves of 64 idled
  // behind their longest member and pinned 64 prompts with no rows left for the answers.) Each
  // sequence's tokens do not depend on which others share its steps: rows are computed
  // independently and a sampling RNG is seeded per request.
  const size_t max_active = static_cast<size_t>(std::min<int32_t>(n_batch_, 64));
  std::deque<size_t> pending;
  for (size_t i = 0; i < requests.size(); ++i) pending.push_back(i);
  std::list<Seq> seqs;
  std::vector<int32_t> created;
  // An admission that did not fit created rows that were never computed: take them out of the
  // tree (last first, each a leaf by then) so no later lookup finds them.
  auto forget_created_since = [&](size_t mark) {
    for (size_t k = created.size(); k > mark; --k) cache_->discard(created[k - 1]);
    created.resize(mark);
  };
  while (true) {
    while (seqs.size() < max_active && !pending.empty()) {
      const size_t i = pending.front();
      const GenerateRequest& rq = requests[i];
      std::string prompt = rq.context;
      if (!rq.messages.empty()) {
        auto rendered = render_chat(rq.messages);
        if (!rendered.ok()) { out[i] = rendered.status(); pending.pop_front(); continue; }
        prompt = *rendered;
      }
      // Chat renders carry their own BOS text; raw prompts get the model's BOS rule.
      std::vector<int32_t> toks = tokenizer_->encode(prompt, rq.messages.empty() && add_bos_, !rq.messages.empty());
      if (toks.empty()) toks.push_back(tokenizer_->bos_id() >= 0 ? tokenizer_->bos_id() : tokenizer_->eos_id());
      if (static_cast<int64_t>(toks.size()) >= n_ctx_) {
        out[i] = invalid_argument("prompt of " + std::to_string(toks.size()) +
                                  " tokens does not fit the context of " + std::to_string(n_ctx_) +
                                  " tokens (--model-args n_ctx=N to raise it)");
        pending.pop_front();
        continue;
      }
      const size_t mark = created.size();
      auto nodes = pin_path(toks, &created);
      if (!nodes) {
        forget_created_since(mark);
        // With others running, wait for their rows; alone, it can never fit.
        if (!seqs.empty()) break;
        out[i] = resource_exhausted("prompt does not fit the KV cache");
        pending.pop_front();
        continue;
      }
      // Rows for the answers too: each running sequence may still grow to its token limit, so
      // a newcomer is admitted only if all of them can (otherwise decoding could run out of rows
      // mid-answer). Alone it always can: n_ctx < the cache's rows.
      const int32_t grow = std::max(0, std::min(rq.params.max_gen_toks, n_ctx_ - static_cast<int32_t>(toks.size())));
      int32_t reserved = 0;
      for (const Seq& r : seqs) reserved += r.max_new;
      if (!seqs.empty() && cache_->pinned_rows() + reserved + grow > cache_->capacity()) {
        unpin_path(*nodes);
        forget_created_since(mark);
        break;
      }
      pending.pop_front();
      Seq& s = seqs.emplace_back();
      s.max_new = grow;
      s.req = i;
      s.nodes = std::move(*nodes);
      s.prompt_len = static_cast<int32_t>(toks.size());
      s.decoder = std::make_unique<StreamDecoder>(*tokenizer_);
      uint64_t seed = rq.params.seed.value_or(1234);
      s.rng.seed(seed ^ std::hash<std::string>{}(prompt));
    }
    compute_nodes(created);
    created.clear();
    {
      std::vector<Seq*> active;
      for (auto& s : seqs) active.push_back(&s);
      if (active.empty()) break;
      // Next-token distribution for each active sequence.
      std::vector<int32_t> next(active.size());
      for (size_t a0 = 0; a0 < active.size(); a0 += kLogitRows) {
        size_t a1 = std::min(active.size(), a0 + kLogitRows);
        std::vector<int32_t> rows;
        for (size_t a = a0; a < a1; ++a) rows.push_back(cache_->row(active[a]->nodes.back()));
        ops_->gather_rows(hidden_store_, n_embd, rows, n_embd, hidden_tmp_);
        forward_->logits(hidden_tmp_, static_cast<int64_t>(rows.size()), logits_);
        // Drawn where the logits are (on a GPU, no vocabulary-sized copy per token); one draw
        // per sampling row from its own generator, greedy rows take the argmax. Greedy rows go
        // through the same call whether or not a sampling row shares their chunk, so their
        // token never depends on the neighbours (even for NaN logits, which count as -inf).
        std::vector<SampleRow> how(rows.size());
        for (size_t a = a0; a < a1; ++a) {
          const GenParams& p = requests[active[a]->req].params;
          if (p.do_sample && p.temperature > 0)
            how[a - a0] = SampleRow{p.temperature, p.top_p, Sampler::draw_unit(active[a]->rng), p.top_k, 0};
          else
            how[a - a0] = SampleRow{0.0, 1.0, 0.0, 0, 0};
        }
        ops_->sample_tokens(logits_, static_cast<int64_t>(rows.size()), n_vocab, how, next.data() + a0);
      }
      // Append, check the stopping rules, extend the paths of those that go on.
      for (size_t a = 0; a < active.size(); ++a) {
        Seq& s = *active[a];
        const GenParams& p = requests[s.req].params;
        GenerateResponse& resp = *out[s.req];
        int32_t tok = next[a];
        if (tokenizer_->is_eog(tok)) {
          s.text += s.decoder->flush();
          resp.finish_reason = "eos";
          s.done = true;
          continue;
        }
        s.generated.push_back(tok);
        s.text += s.decoder->push(tok);
        if (text_callback_) text_callback_(s.req, s.text);
        size_t cut = std::string::npos;
        for (const auto& stop : p.until) {
          if (stop.empty()) continue;
          size_t f = s.text.find(stop);
          if (f != std::string::npos) cut = std::min(cut, f);
        }
        if (cut != std::string::npos) {
          s.text.resize(cut);
          resp.finish_reason = "stop";
          s.done = true;
          continue;
        }
        if (static_cast<int32_t>(s.generated.size()) >= p.max_gen_toks ||
            s.prompt_len + static_cast<int32_t>(s.generated.size()) >= n_ctx_) {
          s.text += s.decoder->flush();
          resp.finish_reason = "length";
          s.done = true;
          continue;
        }
        bool is_new = false;
        int32_t c = cache_->child(s.nodes.back(), tok, &is_new);
        if (c < 0) {
          out[s.req] = resource_exhausted("KV cache full during generation");
          s.done = true;
          continue;
        }
        cache_->pin(c);
        s.nodes.push_back(c);
        if (is_new) created.push_back(c);
        if (s.max_new > 0) --s.max_new;
      }
    }
    // Finished sequences leave now, so their places (and rows) go to the next requests; the new
    // tokens of those that go on are computed with the admissions at the top of the loop.
    for (auto it = seqs.begin(); it != seqs.end();) {
      if (!it->done) { ++it; continue; }
      unpin_path(it->nodes);
      if (out[it->req].ok()) {
        GenerateResponse& resp = *out[it->req];
        resp.text = it->text;
        resp.usage.prompt_tokens = it->prompt_len;
        resp.usage.completion_tokens = static_cast<int64_t>(it->generated.size());
        resp.usage.reported = true;
      }
      it = seqs.erase(it);
    }
  }
  return out;
}

}  // namespace assay
