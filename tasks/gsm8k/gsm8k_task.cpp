#include "tasks/gsm8k/gsm8k_task.h"

#include <cstdio>
#include <set>
#include <unordered_map>

#include "harness/jsonl.h"
#include "tasks/common/answer_extract.h"
#include "tasks/common/fewshot_prompt.h"
#include "tasks/common/python_random.h"
#include "tasks/gsm8k/answer_filters.h"

namespace json = boost::json;

namespace assay {

const std::vector<Gsm8kExemplar>& gsm8k_cot_exemplars() {
  // lm_eval/tasks/gsm8k/gsm8k-cot.yaml fewshot_config.samples, byte for byte.
  static const std::vector<Gsm8kExemplar> kExemplars = {
      {"There are 15 trees in the grove. Grove workers will plant trees in the grove today. After "
       "they are done, there will be 21 trees. How many trees did the grove workers plant today?",
       "There are 15 trees originally. Then there were 21 trees after some more were planted. So "
       "there must have been 21 - 15 = 6. The answer is 6."},
      {"If there are 3 cars in the parking lot and 2 more cars arrive, how many cars are in the "
       "parking lot?",
       "There are originally 3 cars. 2 more cars arrive. 3 + 2 = 5. The answer is 5."},
      {"Leah had 32 chocolates and her sister had 42. If they ate 35, how many pieces do they have "
       "left in total?",
       "Originally, Leah had 32 chocolates. Her sister had 42. So in total they had 32 + 42 = 74. "
       "After eating 35, they had 74 - 35 = 39. The answer is 39."},
      {"Jason had 20 lollipops. He gave Denny some lollipops. Now Jason has 12 lollipops. How many "
       "lollipops did Jason give to Denny?",
       "Jason started with 20 lollipops. Then he had 12 after giving some to Denny. So he gave "
       "Denny 20 - 12 = 8. The answer is 8."},
      {"Shawn has five toys. For Christmas, he got two toys each from his mom and dad. How many "
       "toys does he have now?",
       "Shawn started with 5 toys. If he got 2 toys each from his mom and dad, then that is 4 more "
       "toys. 5 + 4 = 9. The answer is 9."},
      {"There were nine computers in the server room. Five more computers were installed each day, "
       "from monday to thursday. How many computers are now in the server room?",
       "There were originally 9 computers. For each of 4 days, 5 more computers were added. So 5 * "
       "4 = 20 computers were added. 9 + 20 is 29. The answer is 29."},
      {"Michael had 58 golf balls. On tuesday, he lost 23 golf balls. On wednesday, he lost 2 "
       "more. How many golf balls did he have at the end of wednesday?",
       "Michael started with 58 golf balls. After losing 23 on tuesday, he had 58 - 23 = 35. After "
       "losing 2 more, he had 35 - 2 = 33 golf balls. The answer is 33."},
      {"Olivia has $23. She bought five bagels for $3 each. How much money does she have left?",
       "Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. So she has "
       "23 - 15 dollars left. 23 - 15 is 8. The answer is 8."},
  };
  return kExemplars;
}

std::vector<std::vector<int64_t>> gsm8k_fewshot_indices(int64_t n_docs, int k, uint64_t seed,
                                                        int64_t population) {
  PythonRandom rnd(seed);
  std::vector<std::vector<int64_t>> out;
  out.reserve(static_cast<size_t>(n_docs));
  for (int64_t d = 0; d < n_docs; ++d) out.push_back(rnd.sample_indices(population, k));
  return out;
}

namespace {

struct Gsm8kDoc {
  std::string question, answer;
};

enum class Variant { kDefault, kCot };

Result<std::vector<Gsm8kDoc>> load_docs(const std::string& path,
                                        std::vector<int64_t>* train_index = nullptr) {
  std::vector<Gsm8kDoc> docs;
  Status st = for_each_jsonl(path, [&](int64_t line, simdjson::dom::element e) -> Status {
    const std::string where = path + ":" + std::to_string(line);
    ASSAY_ASSIGN_OR_RETURN(auto q, json_string_field(e, "question", where));
    ASSAY_ASSIGN_OR_RETURN(auto a, json_string_field(e, "answer", where));
    if (train_index) {
      // weak_to_strong rows: "gsm8k_<i>" is train question i; other ids are augmentations.
      std::string_view id;
      if (e["id"].get(id)) return corrupt(where + ": field 'id': expected string");
      if (id.substr(0, 6) != "gsm8k_") return Status::OK();
      int64_t i = 0;
      for (char c : id.substr(6)) {
        if (c < '0' || c > '9') return corrupt(where + ": unexpected id '" + std::string(id) + "'");
        i = i * 10 + (c - '0');
      }
      train_index->push_back(i);
    }
    docs.push_back({std::string(q), std::string(a)});
    return Status::OK();
  });
  if (!st.ok()) return st;
  return docs;
}

class Gsm8kTask : public Task {
 public:
  Gsm8kTask(Variant v, std::vector<Gsm8kDoc> test, std::vector<Gsm8kDoc> train,
            std::vector<int64_t> train_index, std::string train_source, const TaskOptions& opts)
      : variant_(v),
        name_(v == Variant::kCot ? "gsm8k_cot" : "gsm8k"),
        test_(std::move(test)),
        opts_(opts),
        train_source_(std::move(train_source)) {
    num_fewshot_ = opts.num_fewshot.value_or(v == Variant::kCot ? 8 : 5);
    params_.until = v == Variant::kCot
                        ? std::vector<std::string>{"Q:", "</s>", "<|im_end|>"}
                        : std::vector<std::string>{"Question:", "</s>", "<|im_end|>"};
    params_.max_gen_toks = 256;
    params_ = opts.gen_overrides.apply(params_);
    // The few-shot examples of every document, as (question text, target) pairs.
    shots_.resize(test_.size());
    if (num_fewshot_ == 0) return;
    if (v == Variant::kCot) {
      std::vector<std::pair<std::string, std::string>> fixed;
      for (int i = 0; i < num_fewshot_; ++i) {
        const auto& e = gsm8k_cot_exemplars()[i];
        fixed.emplace_back(doc_to_text(e.question), e.target);
      }
      for (auto& s : shots_) s = fixed;
      n_exact_ = size();
      return;
    }
    // Default sampler: lm-eval's draws over the full train split; missing rows substituted.
    std::unordered_map<int64_t, size_t> row_of;  // train index -> row in `train`
    if (train_index.empty()) {
      for (size_t r = 0; r < train.size(); ++r) row_of[static_cast<int64_t>(r)] = r;
    } else {
      for (size_t r = 0; r < train.size(); ++r) row_of[train_index[r]] = r;
    }
    const int64_t population =
        train_index.empty() ? static_cast<int64_t>(train.size()) : kGsm8kTrainSize;
    auto draws = gsm8k_fewshot_indices(size(), num_fewshot_, opts.fewshot_seed, population);
    for (int64_t d = 0; d < size(); ++d) {
      std::set<int64_t> used(draws[d].begin(), draws[d].end());
      bool exact = true;
      for (int64_t j : draws[d]) {
        int64_t idx = j;
        if (!row_of.count(idx)) {
          exact = false;
          do idx = (idx + 1) % population;
          while (!row_of.count(idx) || used.count(idx));
          used.insert(idx);
        }
        const Gsm8kDoc& t = train[row_of[idx]];
        shots_[d].emplace_back(doc_to_text(t.question), t.answer);
      }
      if (exact) ++n_exact_;
    }
  }

  const std::string& name() const override { return name_; }
  std::string version() const override { return "3.0"; }
  int num_fewshot() const override { return num_fewshot_; }
  int64_t size() const override { return static_cast<int64_t>(test_.size()); }

  std::string doc_to_text(const std::string& question) const {
    return variant_ == Variant::kCot ? "Q: " + question + "\nA:"
                                     : "Question: " + question + "\nAnswer:";
  }

  // The scoring reference (lm-eval's doc_to_target of the test document).
  std::string target(int64_t doc) const {
    const std::string& a = test_[doc].answer;
    if (variant_ == Variant::kDefault) return a;
    size_t p = a.rfind("####");
    return python_strip(p == std::string::npos ? a : a.substr(p + 4));
  }

  std::vector<Request> requests(int64_t doc) const override {
    Request r;
    r.kind = RequestKind::kGenerate;
    r.gen = fewshot_generate_request(opts_, shots_[doc], doc_to_text(test_[doc].question), params_);
    return {r};
  }

  DocResult score(int64_t doc, std::span<const Response> rs) const override {
    DocResult r;
    std::string text = rs.empty() ? std::string() : rs[0].gen.text;
    if (opts_.strip_think) text = strip_think(text);
    const std::string strict =
        variant_ == Variant::kCot ? gsm8k_cot_strict_match(text) : gsm8k_strict_match(text);
    const std::string flexible = gsm8k_flexible_extract(text);
    const std::string ref = target(doc);
    r.values["exact_match,strict-match"] = gsm8k_exact_match(strict, ref) ? 1.0 : 0.0;
    r.values["exact_match,flexible-extract"] = gsm8k_exact_match(flexible, ref) ? 1.0 : 0.0;
    r.target = ref;
    r.filter = "strict-match";
    r.filtered_resps = json::array{json::value(strict)};
    r.other_filters.push_back({"flexible-extract", json::array{json::value(flexible)}});
    return r;
  }

  std::vector<MetricSpec> metrics() const override {
    return {{"exact_match", "strict-match", true}, {"exact_match", "flexible-extract", true}};
  }

  json::object doc_json(int64_t doc) const override {
    return json::object{{"question", test_[doc].question}, {"answer", test_[doc].answer}};
  }

  json::object config() const override {
    json::array until;
    for (const auto& u : params_.until) until.emplace_back(u);
    json::object fewshot{{"sampler", variant_ == Variant::kCot ? "first_n" : "default"}};
    if (variant_ == Variant::kDefault && num_fewshot_ > 0) {
      fewshot["train_source"] = train_source_;
      fewshot["docs_with_lm_eval_fewshot"] = n_exact_;
    }
    return json::object{
        {"task", name_},
        {"tag", variant_ == Variant::kCot ? json::array{"chain_of_thought"}
                                          : json::array{"math_word_problems"}},
        {"dataset_path", "DATA/gsm8k"},
        {"dataset_name", "main"},
        {"test_split", "test"},
        {"fewshot_split", variant_ == Variant::kCot ? "" : "train"},
        {"fewshot_config", fewshot},
        {"num_fewshot", num_fewshot_},
        {"target_delimiter", " "},
        {"fewshot_delimiter", "\n\n"},
        {"output_type", "generate_until"},
        {"generation_kwargs", json::object{{"until", until},
                                           {"do_sample", params_.do_sample},
                                           {"temperature", params_.temperature},
                                           {"max_gen_toks", params_.max_gen_toks}}},
        {"filter_list", json::array{"strict-match", "flexible-extract"}},
        {"metric_list",
         json::array{
             json::object{{"metric", "exact_match"},
                          {"aggregation", "mean"},
                          {"higher_is_better", true},
                          {"ignore_case", true},
                          {"ignore_punctuation", false},
                          {"regexes_to_ignore", json::array{",", "\\$", "(?s).*#### ", "\\.$"}}}}},
        {"metadata", json::object{{"version", 3.0}}}};
  }

 private:
  Variant variant_;
  std::string name_;
  std::vector<Gsm8kDoc> test_;
  TaskOptions opts_;
  std::string train_source_;
  int num_fewshot_ = 0;
  GenParams params_;
  std::vector<std::vector<std::pair<std::string, std::string>>> shots_;
  int64_t n_exact_ = 0;
};

bool file_exists(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  std::fclose(f);
  return true;
}

Result<std::unique_ptr<Task>> make_task(Variant v, const TaskOptions& opts) {
  const std::string name = v == Variant::kCot ? "gsm8k_cot" : "gsm8k";
  ASSAY_ASSIGN_OR_RETURN(auto test, load_docs(opts.data_dir + "/gsm8k/test.jsonl"));
  const int k = opts.num_fewshot.value_or(v == Variant::kCot ? 8 : 5);
  if (k < 0) return invalid_argument(name + ": --num-fewshot must be >= 0");
  std::vector<Gsm8kDoc> train;
  std::vector<int64_t> train_index;
  std::string source;
  if (v == Variant::kCot) {
    if (k > static_cast<int>(gsm8k_cot_exemplars().size())) {
      return invalid_argument("gsm8k_cot: --num-fewshot " + std::to_string(k) +
                              " but the task has " + std::to_string(gsm8k_cot_exemplars().size()) +
                              " exemplars");
    }
  } else if (k > 0) {
    const std::string full = opts.data_dir + "/gsm8k/train.jsonl";
    const std::string half = opts.data_dir + "/weak_to_strong/gsm8k/train_2.jsonl";
    if (file_exists(full)) {
      ASSAY_ASSIGN_OR_RETURN(train, load_docs(full));
      source = "gsm8k/train.jsonl";
    } else if (file_exists(half)) {
      ASSAY_ASSIGN_OR_RETURN(train, load_docs(half, &train_index));
      source = "weak_to_strong/gsm8k/train_2.jsonl (partial: missing draws substituted)";
      if (train.size() < static_cast<size_t>(k)) return corrupt(half + ": too few train questions");
    } else {
      return not_found("gsm8k: " + std::to_string(k) + "-shot needs the train split: " + full +
                       " (or " + half + ")");
    }
    if (static_cast<int64_t>(train.size()) < k) {
      return invalid_argument("gsm8k: --num-fewshot " + std::to_string(k) +
                              " exceeds the train split");
    }
  }
  return std::unique_ptr<Task>(
      new Gsm8kTask(v, std::move(test), std::move(train), std::move(train_index), source, opts));
}

}  // namespace

void register_gsm8k(TaskRegistry& registry) {
  registry.add_task("gsm8k", [](const TaskOptions& o) { return make_task(Variant::kDefault, o); });
  registry.add_task("gsm8k_cot", [](const TaskOptions& o) { return make_task(Variant::kCot, o); });
}

}  // namespace assay
