#include "tasks/mmlu/mmlu.h"

#include "harness/csv.h"
#include "harness/json_write.h"
#include "tasks/common/answer_extract.h"
#include "tasks/common/text_util.h"

namespace json = boost::json;

namespace assay {

const std::vector<MmluSubject>& mmlu_subjects() {
  // lm-eval's tasks/mmlu/_generate_configs.py SUBJECTS.
  static const std::vector<MmluSubject> kSubjects = {
      {"abstract_algebra", "stem"}, {"anatomy", "stem"}, {"astronomy", "stem"},
      {"business_ethics", "other"}, {"clinical_knowledge", "other"}, {"college_biology", "stem"},
      {"college_chemistry", "stem"}, {"college_computer_science", "stem"},
      {"college_mathematics", "stem"}, {"college_medicine", "other"}, {"college_physics", "stem"},
      {"computer_security", "stem"}, {"conceptual_physics", "stem"},
      {"econometrics", "social_sciences"}, {"electrical_engineering", "stem"},
      {"elementary_mathematics", "stem"}, {"formal_logic", "humanities"},
      {"global_facts", "other"}, {"high_school_biology", "stem"},
      {"high_school_chemistry", "stem"}, {"high_school_computer_science", "stem"},
      {"high_school_european_history", "humanities"}, {"high_school_geography", "social_sciences"},
      {"high_school_government_and_politics", "social_sciences"},
      {"high_school_macroeconomics", "social_sciences"}, {"high_school_mathematics", "stem"},
      {"high_school_microeconomics", "social_sciences"}, {"high_school_physics", "stem"},
      {"high_school_psychology", "social_sciences"}, {"high_school_statistics", "stem"},
      {"high_school_us_history", "humanities"}, {"high_school_world_history", "humanities"},
      {"human_aging", "other"}, {"human_sexuality", "social_sciences"},
      {"international_law", "humanities"}, {"jurisprudence", "humanities"},
      {"logical_fallacies", "humanities"}, {"machine_learning", "stem"}, {"management", "other"},
      {"marketing", "other"}, {"medical_genetics", "other"}, {"miscellaneous", "other"},
      {"moral_disputes", "humanities"}, {"moral_scenarios", "humanities"}, {"nutrition", "other"},
      {"philosophy", "humanities"}, {"prehistory", "humanities"},
      {"professional_accounting", "other"}, {"professional_law", "humanities"},
      {"professional_medicine", "other"}, {"professional_psychology", "social_sciences"},
      {"public_relations", "social_sciences"}, {"security_studies", "social_sciences"},
      {"sociology", "social_sciences"}, {"us_foreign_policy", "social_sciences"},
      {"virology", "other"}, {"world_religions", "humanities"},
  };
  return kSubjects;
}

namespace {

struct MmluDoc {
  std::string question;
  std::string choices[4];
  int answer = 0;  // 0..3
  int64_t line = 0;
};

Result<std::vector<MmluDoc>> load_split(const std::string& path) {
  ASSAY_ASSIGN_OR_RETURN(auto records, read_csv(path));
  std::vector<MmluDoc> docs;
  docs.reserve(records.size());
  for (const auto& r : records) {
    if (r.fields.size() != 6) {
      return corrupt(path + ":" + std::to_string(r.line) + ": expected 6 columns, got " +
                     std::to_string(r.fields.size()));
    }
    const std::string& a = r.fields[5];
    if (a.size() != 1 || a[0] < 'A' || a[0] > 'D') {
      return corrupt(path + ":" + std::to_string(r.line) + ": answer must be A, B, C or D, got '" +
                     a.substr(0, 20) + "'");
    }
    MmluDoc d;
    d.question = r.fields[0];
    for (int i = 0; i < 4; ++i) d.choices[i] = r.fields[1 + i];
    d.answer = a[0] - 'A';
    d.line = r.line;
    docs.push_back(std::move(d));
  }
  return docs;
}

constexpr const char* kLetters[4] = {"A", "B", "C", "D"};

class MmluTask : public Task {
 public:
  MmluTask(std::string subject, std::vector<MmluDoc> test, std::vector<MmluDoc> dev,
           const TaskOptions& opts)
      : subject_(std::move(subject)),
        name_("mmlu_" + subject_),
        test_(std::move(test)),
        dev_(std::move(dev)),
        opts_(opts) {
    num_fewshot_ = opts.num_fewshot.value_or(0);
    std::string pretty = subject_;
    for (auto& c : pretty) if (c == '_') c = ' ';
    description_ = "The following are multiple choice questions (with answers) about " + pretty +
                   ".\n\n";
    // The few-shot header is the same for every question of the subject.
    std::string shots;
    for (int i = 0; i < num_fewshot_ && i < static_cast<int>(dev_.size()); ++i) {
      shots += doc_to_text(dev_[i]) + " " + kLetters[dev_[i].answer] + "\n\n";
    }
    // lm-eval's system prompt: maybe_delimit(system_instruction, description, "\n\n"), rendered as
    // plain text with no delimiter before the first example.
    std::string system = description_;
    const std::string& si = opts.system_instruction;
    if (!si.empty()) {
      const bool ws = unicode_rstrip(si) != si || unicode_lstrip(description_) != description_;
      system = si + (ws ? "" : "\n\n") + description_;
    }
    header_ = system + shots;
    if (opts.apply_chat_template) {
      // lm-eval's chat layout: the description in a system turn, the examples either joined
      // into the question's user turn or as user/assistant turns (answers without the target
      // delimiter), and continuations "A".."D" right after the generation prompt.
      chat_prefix_.push_back({"system", system});
      if (opts.fewshot_as_multiturn) {
        for (int i = 0; i < num_fewshot_ && i < static_cast<int>(dev_.size()); ++i) {
          chat_prefix_.push_back({"user", doc_to_text(dev_[i])});
          chat_prefix_.push_back({"assistant", kLetters[dev_[i].answer]});
        }
      } else {
        chat_shots_ = shots;
      }
    }
  }

  const std::string& name() const override { return name_; }
  std::string version() const override { return "1.0"; }
  int num_fewshot() const override { return num_fewshot_; }
  int64_t size() const override { return static_cast<int64_t>(test_.size()); }

  static std::string doc_to_text(const MmluDoc& d) {
    std::string s = python_strip(d.question);
    for (int i = 0; i < 4; ++i) s += std::string("\n") + kLetters[i] + ". " + d.choices[i];
    s += "\nAnswer:";
    return s;
  }

  std::vector<Request> requests(int64_t doc) const override {
    std::vector<Request> out(4);
    if (opts_.apply_chat_template) {
      std::vector<ChatMessage> messages = chat_prefix_;
      messages.push_back({"user", chat_shots_ + doc_to_text(test_[doc])});
      for (int i = 0; i < 4; ++i) {
        out[i].kind = RequestKind::kLoglikelihood;
        out[i].ll.messages = messages;
        out[i].ll.continuation = kLetters[i];
      }
      return out;
    }
    std::string context = header_ + doc_to_text(test_[doc]);
    for (int i = 0; i < 4; ++i) {
      out[i].kind = RequestKind::kLoglikelihood;
      out[i].ll.context = context;
      out[i].ll.continuation = std::string(" ") + kLetters[i];
    }
    return out;
  }

  DocResult score(int64_t doc, std::span<const Response> rs) const override {
    DocResult r;
    int best = 0;
    for (int i = 1; i < static_cast<int>(rs.size()); ++i) {
      if (rs[i].ll.logprob > rs[best].ll.logprob) best = i;
    }
    r.values["acc,none"] = best == test_[doc].answer ? 1.0 : 0.0;
    r.target = test_[doc].answer;
    for (const auto& x : rs) {
      r.filtered_resps.push_back(json::array{python_float_repr(x.ll.logprob),
                                             x.ll.is_greedy ? "True" : "False"});
    }
    r.extra["pred"] = best;
    return r;
  }

  std::vector<MetricSpec> metrics() const override { return {{"acc", "none", true}}; }

  json::object doc_json(int64_t doc) const override {
    const MmluDoc& d = test_[doc];
    json::array choices;
    for (const auto& c : d.choices) choices.emplace_back(c);
    return json::object{{"question", d.question}, {"subject", subject_}, {"choices", choices},
                        {"answer", d.answer}};
  }

  json::object config() const override {
    return json::object{{"task", name_},
                        {"tag", "mmlu_" + std::string(category()) + "_tasks"},
                        {"dataset_path", "DATA/mmlu"},
                        {"dataset_name", subject_},
                        {"test_split", "test"},
                        {"fewshot_split", "dev"},
                        {"fewshot_config", json::object{{"sampler", "first_n"}}},
                        {"description", description_},
                        {"target_delimiter", opts_.apply_chat_template ? "" : " "},
                        {"fewshot_delimiter", "\n\n"},
                        {"output_type", "multiple_choice"},
                        {"metric_list", json::array{json::object{{"metric", "acc"},
                                                                 {"aggregation", "mean"},
                                                                 {"higher_is_better", true}}}},
                        {"metadata", json::object{{"version", 1.0}}}};
  }

  const char* category() const {
    for (const auto& s : mmlu_subjects()) if (subject_ == s.name) return s.category;
    return "other";
  }

 private:
  std::string subject_, name_;
  std::vector<MmluDoc> test_, dev_;
  TaskOptions opts_;
  int num_fewshot_ = 0;
  std::string description_, header_;
  std::vector<ChatMessage> chat_prefix_;  // --apply-chat-template: turns before the question
  std::string chat_shots_;                // examples joined into the question's turn
};

}  // namespace

void register_mmlu(TaskRegistry& registry) {
  std::map<std::string, std::vector<std::string>> by_category;
  for (const auto& s : mmlu_subjects()) {
    std::string subject = s.name;
    registry.add_task("mmlu_" + subject, [subject](const TaskOptions& opts)
                                             -> Result<std::unique_ptr<Task>> {
      std::string base = opts.data_dir + "/mmlu";
      ASSAY_ASSIGN_OR_RETURN(auto test, load_split(base + "/test/" + subject + "_test.csv"));
      std::vector<MmluDoc> dev;
      if (opts.num_fewshot.value_or(0) > 0) {
        ASSAY_ASSIGN_OR_RETURN(dev, load_split(base + "/dev/" + subject + "_dev.csv"));
        if (static_cast<int>(dev.size()) < *opts.num_fewshot) {
          return invalid_argument("mmlu_" + subject + ": --num-fewshot " +
                                  std::to_string(*opts.num_fewshot) + " but the dev split has " +
                                  std::to_string(dev.size()) + " examples");
        }
      }
      return std::unique_ptr<Task>(new MmluTask(subject, std::move(test), std::move(dev), opts));
    });
    by_category[s.category].push_back("mmlu_" + subject);
  }
  std::vector<std::string> cats;
  for (const char* c : {"stem", "other", "social_sciences", "humanities"}) {
    registry.add_group({std::string("mmlu_") + c, by_category[c], {"acc,none"}, true, "2"});
    cats.push_back(std::string("mmlu_") + c);
  }
  registry.add_group({"mmlu", cats, {"acc,none"}, true, "2"});
}

}  // namespace assay
