#include "harness/evaluator.h"

#include <tbb/parallel_for.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "assay_version.h"
#include "harness/atomic_file.h"
#include "harness/json_write.h"
#include "harness/jsonl.h"
#include "harness/log.h"
#include "harness/progress.h"
#include "harness/sha256.h"
#include "harness/stats.h"

namespace json = boost::json;

namespace assay {

std::string hash_string(std::string_view s) { return sha256_hex(s); }

namespace {

struct LoadedTask {
  std::string name;
  std::unique_ptr<Task> task;
  Status status;
  int64_t n_docs = 0;
  // For each doc: indexes into the unique request table, one per task request.
  std::vector<std::vector<int64_t>> req_ids;
};

struct UniqueRequest {
  Request req;
  std::string key;  // sha256(model identity + canonical)
};

std::string now_iso() {
  std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      size_t c = line.find(':');
      if (c != std::string::npos) return line.substr(c + 2);
    }
  }
  return "unknown";
}

std::string fmt4(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4f", v);
  return b;
}

// lm-eval's limit: a fraction below 1, else a count.
int64_t apply_limit(int64_t n, const std::optional<double>& limit) {
  if (!limit) return n;
  if (*limit < 1.0) return std::min<int64_t>(n, static_cast<int64_t>(std::ceil(n * *limit)));
  return std::min<int64_t>(n, static_cast<int64_t>(*limit));
}

// Renders rows as lm-eval's Markdown table (pytablewriter layout, close enough to paste).
std::string markdown_table(const std::vector<std::vector<std::string>>& rows,
                           const std::vector<bool>& right_align) {
  std::vector<size_t> w(rows[0].size(), 0);
  auto width = [](const std::string& s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
  };
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], width(r[i]));
  std::string out;
  for (size_t ri = 0; ri < rows.size(); ++ri) {
    out += "|";
    for (size_t i = 0; i < rows[ri].size(); ++i) {
      std::string cell = rows[ri][i];
      size_t pad = w[i] - width(cell);
      if (right_align[i] && ri > 0) out += std::string(pad, ' ') + cell + "|";
      else out += cell + std::string(pad, ' ') + "|";
    }
    out += "\n";
    if (ri == 0) {
      out += "|";
      for (size_t i = 0; i < w.size(); ++i) {
        out += std::string(w[i] > 0 ? w[i] - (right_align[i] ? 1 : 0) : 0, '-');
        out += right_align[i] ? ":|" : "|";
      }
      out += "\n";
    }
  }
  return out;
}

}  // namespace

Result<EvalResult> evaluate(Model& model, const TaskRegistry& registry, const EvalOptions& opts) {
  auto t_start = std::chrono::steady_clock::now();
  std::string start_date = now_iso();
  const ModelInfo& info = model.info();
  const Pricing pricing = pricing_for(info, opts.prices ? *opts.prices : PriceTable::builtin());
  if (!pricing.local && !pricing.price) ASSAY_LOG(kWarn) << pricing.no_price_reason << "; cost will be null";
  std::vector<std::string> leaves, groups;
  ASSAY_RETURN_IF_ERROR(registry.expand(opts.tasks, &leaves, &groups));
  if (leaves.empty()) return invalid_argument("no tasks given (--tasks a,b)");
  if (!opts.output_dir.empty()) ASSAY_RETURN_IF_ERROR(ensure_writable_dir(opts.output_dir));

  // Load tasks; a task that fails to load fails alone.
  std::vector<LoadedTask> tasks(leaves.size());
  for (size_t i = 0; i < leaves.size(); ++i) tasks[i].name = leaves[i];
  tbb::parallel_for(size_t{0}, tasks.size(), [&](size_t i) {
    auto t = (*registry.task(tasks[i].name))(opts.task_options);
    if (!t.ok()) {
      tasks[i].status = t.status();
      return;
    }
    tasks[i].task = std::move(t).value();
    tasks[i].n_docs = apply_limit(tasks[i].task->size(), opts.limit);
  });
  for (const auto& t : tasks) {
    if (!t.status.ok()) ASSAY_LOG(kError) << "task " << t.name << " failed: " << t.status.message();
  }

  // Collect and deduplicate requests; refuse what the model cannot serve before sending any.
  std::vector<UniqueRequest> unique;
  std::unordered_map<std::string, int64_t> index;
  bool need_ll = false, need_rolling = false;
  for (auto& t : tasks) {
    if (!t.task) continue;
    t.req_ids.resize(t.n_docs);
    for (int64_t d = 0; d < t.n_docs; ++d) {
      for (Request& r : t.task->requests(d)) {
        need_ll |= r.kind == RequestKind::kLoglikelihood;
        need_rolling |= r.kind == RequestKind::kRolling;
        std::string canon = r.canonical();
        auto [it, inserted] = index.emplace(canon, static_cast<int64_t>(unique.size()));
        if (inserted) unique.push_back({std::move(r), hash_string(info.identity + "\n" + canon)});
        t.req_ids[d].push_back(it->second);
      }
    }
  }
  bool need_generate = std::any_of(unique.begin(), unique.end(),
                                   [](const UniqueRequest& u) { return u.req.kind == RequestKind::kGenerate; });
  if (Status st = model.prepare({need_ll, need_rolling, need_generate}); !st.ok()) {
    return Status(st.code(), st.message() + ". No task request was sent.");
  }
  if (need_ll && !info.supports_loglikelihood) {
    return unsupported("model " + info.spec + " cannot score log-likelihoods (" +
                       (info.chat_only ? "a chat-only endpoint" : "no prompt log-probs") +
                       "); the requested tasks need them. Nothing was sent.");
  }
  auto chat_ll = std::find_if(unique.begin(), unique.end(), [](const UniqueRequest& u) {
    return u.req.kind == RequestKind::kLoglikelihood && !u.req.ll.messages.empty();
  });
  if (chat_ll != unique.end()) {
    // Scoring a chat-templated context needs the exact rendered text, which only an engine that
    // holds the template knows (an API's chat endpoint returns no prompt log-probs).
    auto rendered = model.render_chat(chat_ll->req.ll.messages);
    if (!rendered.ok()) {
      return unsupported("--apply-chat-template with log-likelihood tasks needs the model's chat "
                         "template: " + rendered.status().message() + ". Nothing was sent.");
    }
  }
  if (need_rolling && !info.supports_rolling) {
    return unsupported("model " + info.spec + " cannot compute rolling log-likelihoods; nothing was sent");
  }

  // Responses already in the write-ahead log.
  std::vector<std::optional<Response>> resp(unique.size());
  std::unique_ptr<AppendLog> wal;
  int64_t from_log = 0;
  if (!opts.output_dir.empty()) {
    std::string wal_path = opts.output_dir + "/requests.wal.jsonl";
    ASSAY_ASSIGN_OR_RETURN(auto lines, read_complete_lines(wal_path, true));
    std::unordered_map<std::string, int64_t> by_key;
    for (size_t i = 0; i < unique.size(); ++i) by_key.emplace(unique[i].key, i);
    for (const auto& line : lines) {
      auto parsed_line = parse_json_exact(line);
      if (!parsed_line.ok() || !parsed_line->is_object()) continue;  // damaged: simply redone
      const json::value v = std::move(parsed_line).value();
      const json::object& o = v.get_object();
      const json::value* k = o.if_contains("k");
      const json::value* r = o.if_contains("r");
      if (!k || !r || !k->is_string()) continue;
      auto it = by_key.find(std::string(k->get_string()));
      if (it == by_key.end() || resp[it->second]) continue;
      auto parsed = Response::from_json(unique[it->second].req.kind, *r);
      if (!parsed.ok()) continue;
      resp[it->second] = std::move(parsed).value();
      ++from_log;
    }
    ASSAY_ASSIGN_OR_RETURN(wal, AppendLog::open(wal_path));
    if (from_log > 0) {
      ASSAY_LOG(kInfo) << "resuming: " << from_log << " of " << unique.size()
                       << " requests answered in " << wal_path;
    }
  }

  // Send what is missing, kind by kind, in chunks; log each answer as it lands.
  EvalResult result;
  result.requests_total = static_cast<int64_t>(unique.size());
  int64_t pending_total = 0;
  for (const auto& r : resp) pending_total += !r.has_value();
  std::unique_ptr<Progress> progress;
  if (opts.show_progress && pending_total > 0) {
    progress = std::make_unique<Progress>("requests", pending_total);
  }
  for (RequestKind kind : {RequestKind::kLoglikelihood, RequestKind::kRolling, RequestKind::kGenerate}) {
    std::vector<int64_t> todo;
    for (size_t i = 0; i < unique.size(); ++i) {
      if (!resp[i] && unique[i].req.kind == kind) todo.push_back(static_cast<int64_t>(i));
    }
    for (size_t start = 0; start < todo.size(); start += static_cast<size_t>(opts.chunk_size)) {
      size_t end = std::min(todo.size(), start + static_cast<size_t>(opts.chunk_size));
      std::vector<Response> got(end - start);
      if (kind == RequestKind::kLoglikelihood) {
        std::vector<LoglikelihoodRequest> reqs;
        for (size_t j = start; j < end; ++j) reqs.push_back(unique[todo[j]].req.ll);
        auto out = model.loglikelihood(reqs);
        ASSAY_CHECK(out.size() == reqs.size());
        for (size_t j = 0; j < out.size(); ++j) {
          got[j].kind = kind;
          if (out[j].ok()) got[j].ll = *out[j]; else got[j].error = out[j].status();
        }
      } else if (kind == RequestKind::kRolling) {
        std::vector<RollingRequest> reqs;
        for (size_t j = start; j < end; ++j) reqs.push_back(unique[todo[j]].req.rolling);
        auto out = model.loglikelihood_rolling(reqs);
        ASSAY_CHECK(out.size() == reqs.size());
        for (size_t j = 0; j < out.size(); ++j) {
          got[j].kind = kind;
          if (out[j].ok()) got[j].rolling = *out[j]; else got[j].error = out[j].status();
        }
      } else {
        std::vector<GenerateRequest> reqs;
        for (size_t j = start; j < end; ++j) reqs.push_back(unique[todo[j]].req.gen);
        auto out = model.generate_until(reqs);
        ASSAY_CHECK(out.size() == reqs.size());
        for (size_t j = 0; j < out.size(); ++j) {
          got[j].kind = kind;
          if (out[j].ok()) got[j].gen = *out[j]; else got[j].error = out[j].status();
        }
      }
      for (size_t j = 0; j < got.size(); ++j) {
        int64_t u = todo[start + j];
        ++result.requests_sent;
        if (got[j].error.ok() && wal) {
          json::object line{{"k", unique[u].key}, {"r", got[j].to_json()}};
          ASSAY_RETURN_IF_ERROR(wal->append(json_dumps(line, -1)));
        }
        if (!got[j].error.ok()) ++result.requests_failed;
        resp[u] = std::move(got[j]);
      }
      if (wal) ASSAY_RETURN_IF_ERROR(wal->sync());
      if (progress) progress->add(static_cast<int64_t>(end - start));
    }
  }
  if (progress) progress->finish();

  // Usage: the run counts each unique request once; a task or group, each request it used.
  result.pricing = pricing;
  for (const auto& r : resp) result.usage.add(*r);
  json::object usage_by_task;
  std::map<std::string, std::vector<int64_t>> used_by;  // task -> the unique request ids it used
  // Each request once, however many documents or subtasks share it.
  auto usage_of = [&](std::vector<int64_t> ids) {
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    UsageTotals u;
    for (int64_t i : ids) u.add(*resp[i]);
    return usage_totals_json(u, pricing);
  };
  for (const auto& t : tasks) {
    if (!t.task) continue;
    std::vector<int64_t>& ids = used_by[t.name];
    for (const auto& d : t.req_ids) ids.insert(ids.end(), d.begin(), d.end());
    usage_by_task[t.name] = usage_of(ids);
  }

  // Score every document in parallel.
  struct DocOutcome {
    std::optional<DocResult> result;
    std::string error;
  };
  std::vector<std::vector<DocOutcome>> outcomes(tasks.size());
  for (size_t ti = 0; ti < tasks.size(); ++ti) {
    auto& t = tasks[ti];
    if (!t.task) continue;
    outcomes[ti].resize(t.n_docs);
    tbb::parallel_for(int64_t{0}, t.n_docs, [&](int64_t d) {
      std::vector<Response> rs;
      for (int64_t u : t.req_ids[d]) {
        if (!resp[u]->error.ok()) {
          outcomes[ti][d].error = resp[u]->error.message();
          return;
        }
        rs.push_back(*resp[u]);
      }
      outcomes[ti][d].result = t.task->score(d, rs);
    });
  }

  // Aggregate.
  json::object results, group_results, configs, versions, n_shot, higher, n_samples, errors;
  std::map<std::string, SubtaskScore> leaf_scores;  // "task|metric" -> score
  std::map<std::string, std::pair<double, std::optional<double>>> node_values;
  for (size_t ti = 0; ti < tasks.size(); ++ti) {
    auto& t = tasks[ti];
    TaskSummary s;
    s.name = t.name;
    s.status = t.status;
    if (!t.task) {
      errors[t.name] = t.status.message();
      ++result.failed_tasks;
      result.tasks.push_back(s);
      continue;
    }
    s.n_docs = t.n_docs;
    json::object entry{{"alias", t.name}};
    for (const MetricSpec& m : t.task->metrics()) {
      std::vector<double> xs;
      for (const auto& o : outcomes[ti]) {
        if (!o.result) continue;
        auto it = o.result->values.find(m.key());
        if (it != o.result->values.end()) xs.push_back(it->second);
      }
      if (xs.empty()) continue;
      double v = mean(xs);
      std::optional<double> se = mean_stderr(xs);
      s.values[m.key()] = v;
      s.stderrs[m.key()] = se;
      entry[m.key()] = v;
      entry[m.name + "_stderr," + m.filter] = se ? json::value(*se) : json::value("N/A");
      leaf_scores[t.name + "|" + m.key()] = SubtaskScore{v, se, xs.size()};
      if (!higher[t.name].is_object()) higher[t.name].emplace_object();
      higher[t.name].as_object()[m.name] = m.higher_is_better;
    }
    std::string first_error;
    for (const auto& o : outcomes[ti]) {
      if (o.result) ++s.n_scored; else ++s.n_failed_docs;
      if (!o.result && first_error.empty()) first_error = o.error;
    }
    if (s.n_failed_docs > 0) {
      entry["failed_docs"] = s.n_failed_docs;
      // The first reason is enough to act on; every failed document's is in its sample line.
      errors[t.name] = std::to_string(s.n_failed_docs) + " of " + std::to_string(t.n_docs) +
                       " documents had failed requests and were not scored (first: " + first_error + ")";
    }
    results[t.name] = entry;
    json::object cfg = t.task->config();
    cfg["num_fewshot"] = t.task->num_fewshot();
    configs[t.name] = cfg;
    versions[t.name] = t.task->version();
    n_shot[t.name] = t.task->num_fewshot();
    n_samples[t.name] = json::object{{"original", t.task->size()}, {"effective", t.n_docs}};
    result.tasks.push_back(std::move(s));
  }

  // Groups: micro (lm-eval) with pooled stderr over leaves, plus macro over leaves.
  json::object group_subtasks;
  std::function<void(const std::string&, std::vector<std::string>&)> leaves_of =
      [&](const std::string& n, std::vector<std::string>& out) {
        if (const GroupSpec* g = registry.group(n)) {
          for (const auto& s : g->subtasks) leaves_of(s, out);
        } else {
          out.push_back(n);
        }
      };
  std::vector<std::vector<std::string>> group_rows;
  for (const auto& gname : groups) {
    const GroupSpec* g = registry.group(gname);
    json::array subs;
    for (const auto& s : g->subtasks) subs.emplace_back(s);
    group_subtasks[gname] = subs;
    std::vector<std::string> lv;
    leaves_of(gname, lv);
    json::object entry{{"alias", gname}};
    for (const std::string& metric : g->metrics) {
      std::vector<SubtaskScore> parts;
      for (const auto& l : lv) {
        auto it = leaf_scores.find(l + "|" + metric);
        if (it != leaf_scores.end()) parts.push_back(it->second);
      }
      if (parts.empty()) continue;
      GroupScore micro = aggregate_subtasks(parts, g->weight_by_size);
      size_t comma = metric.find(',');
      std::string mname = metric.substr(0, comma), filter = metric.substr(comma + 1);
      entry[metric] = micro.value;
      entry[mname + "_stderr," + filter] =
          micro.std_error ? json::value(*micro.std_error) : json::value("N/A");
      entry[mname + "_macro," + filter] = macro_average(parts);
      auto unweighted = unweighted_mean_stderr([&] {
        std::vector<double> v;
        for (const auto& p : parts) v.push_back(p.std_error.value_or(NAN));
        return v;
      }());
      entry[mname + "_macro_stderr," + filter] =
          unweighted ? json::value(*unweighted) : json::value("N/A");
      entry["n_subtasks"] = parts.size();
      node_values[gname + "|" + metric] = {micro.value, micro.std_error};
    }
    results[gname] = entry;
    group_results[gname] = entry;
    versions[gname] = g->version;
    std::vector<int64_t> ids;
    for (const auto& l : lv) {
      auto it = used_by.find(l);
      if (it != used_by.end()) ids.insert(ids.end(), it->second.begin(), it->second.end());
    }
    usage_by_task[gname] = usage_of(std::move(ids));
  }

  double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  json::object config{{"model", info.spec},
                      {"model_args", opts.model_args},
                      {"batch_size", opts.batch_size},
                      {"limit", opts.limit ? json::value(*opts.limit) : json::value(nullptr)},
                      {"bootstrap_iters", 100000},
                      {"gen_kwargs", opts.gen_kwargs},
                      {"random_seed", opts.seed},
                      {"fewshot_seed", opts.task_options.fewshot_seed},
                      {"apply_chat_template", opts.task_options.apply_chat_template},
                      {"fewshot_as_multiturn", opts.task_options.fewshot_as_multiturn}};
  json::object model_info{{"spec", info.spec},
                          {"id", info.id},
                          {"identity", info.identity},
                          {"backend", info.backend},
                          {"n_ctx", info.n_ctx},
                          {"supports_loglikelihood", info.supports_loglikelihood},
                          {"chat_only", info.chat_only}};
  for (const auto& [k, v] : info.details) model_info[k] = v;
  json::object out{{"results", results},
                   {"groups", group_results},
                   {"group_subtasks", group_subtasks},
                   {"configs", configs},
                   {"versions", versions},
                   {"n-shot", n_shot},
                   {"higher_is_better", higher},
                   {"n-samples", n_samples},
                   {"config", config},
                   {"git_hash", ASSAY_GIT_HASH},
                   {"date", start_date},
                   {"model_name", info.id},
                   {"total_evaluation_time_seconds", python_float_repr(elapsed)},
                   {"assay", json::object{
                        {"version", ASSAY_VERSION},
                        {"command", opts.command_line},
                        {"model", model_info},
                        {"hardware", json::object{{"cpu", cpu_model()},
                                                  {"cores", static_cast<int64_t>(sysconf(_SC_NPROCESSORS_ONLN))}}},
                        {"requests", json::object{{"unique", result.requests_total},
                                                  {"from_log", from_log},
                                                  {"sent", result.requests_sent},
                                                  {"failed", result.requests_failed}}},
                        {"usage", run_usage_json(result.usage, pricing)},
                        {"usage_by_task", usage_by_task},
                        {"errors", errors},
                        {"end_date", now_iso()}}}};
  result.results = out;

  // Files.
  if (!opts.output_dir.empty()) {
    if (opts.log_samples) {
      for (size_t ti = 0; ti < tasks.size(); ++ti) {
        auto& t = tasks[ti];
        if (!t.task) continue;
        std::vector<MetricSpec> metrics = t.task->metrics();
        // lm-eval writes every document once per filter, filter by filter.
        std::vector<std::string> filters;
        for (const auto& m : metrics) {
          if (std::find(filters.begin(), filters.end(), m.filter) == filters.end()) filters.push_back(m.filter);
        }
        if (filters.empty()) filters.push_back("none");
        std::vector<std::vector<std::string>> lines(filters.size(), std::vector<std::string>(t.n_docs));
        tbb::parallel_for(int64_t{0}, t.n_docs, [&](int64_t d) {
          std::vector<Request> reqs = t.task->requests(d);
          json::object doc = t.task->doc_json(d);
          json::object s{{"doc_id", d}, {"doc", doc}};
          const DocOutcome& o = outcomes[ti][d];
          json::value target = o.result ? o.result->target : json::value(nullptr);
          s["target"] = target;
          json::object args;
          json::array resps, usage;
          // lm-eval logs (and hashes) the prompt a chat request became, not its messages.
          std::vector<std::string> prompts(reqs.size());
          for (size_t i = 0; i < reqs.size(); ++i) {
            const Request& q = reqs[i];
            const std::vector<ChatMessage>* msgs =
                q.kind == RequestKind::kLoglikelihood ? &q.ll.messages :
                q.kind == RequestKind::kGenerate ? &q.gen.messages : nullptr;
            if (msgs && !msgs->empty()) {
              // A multiple-choice document's options share one conversation: render it once.
              const Request* prev = i > 0 ? &reqs[i - 1] : nullptr;
              if (prev && prev->kind == q.kind &&
                  *msgs == (q.kind == RequestKind::kLoglikelihood ? prev->ll.messages : prev->gen.messages)) {
                prompts[i] = prompts[i - 1];
                continue;
              }
              auto rendered = model.render_chat(*msgs);
              prompts[i] = rendered.ok() ? *rendered : json_dumps(messages_json(*msgs), -1);
            } else {
              prompts[i] = q.kind == RequestKind::kLoglikelihood ? q.ll.context :
                           q.kind == RequestKind::kRolling ? q.rolling.text : q.gen.context;
            }
          }
          for (size_t i = 0; i < reqs.size(); ++i) {
            json::value a = reqs[i].arguments_json();
            if (reqs[i].kind != RequestKind::kRolling) a.as_object()["arg_0"] = prompts[i];
            args["gen_args_" + std::to_string(i)] = std::move(a);
            const auto& r = resp[t.req_ids[d][i]];
            resps.push_back(r->error.ok() ? r->resps_json() : json::value(nullptr));
            usage.push_back(r->error.ok() ? request_usage_json(response_usage(*r), pricing)
                                          : json::value(nullptr));
          }
          s["arguments"] = args;
          s["resps"] = resps;
          s["usage"] = usage;  // one per request, as resps
          if (o.result) {
            s["filtered_resps"] = o.result->filtered_resps;
            s["filter"] = o.result->filter;
          }
          s["doc_hash"] = hash_string(json_dumps(doc, 2));
          s["prompt_hash"] = hash_string(prompts.empty() ? "" : prompts[0]);
          std::string tstr = target.is_string() ? std::string(target.get_string())
                                                : json_dumps(target, -1);
          s["target_hash"] = hash_string(tstr);
          if (!o.result) {
            json::array mnames;
            for (const auto& m : metrics) {
              if (m.filter == filters[0]) mnames.emplace_back(m.name);
            }
            s["metrics"] = mnames;
            s["error"] = o.error;  // one line: nothing was filtered
            lines[0][d] = json_dumps(s, -1);
            return;
          }
          for (const auto& [k, v] : o.result->extra) s[k] = v;
          for (size_t fi = 0; fi < filters.size(); ++fi) {
            const std::string& f = filters[fi];
            json::object line = s;
            if (f != o.result->filter) {
              auto other = std::find_if(o.result->other_filters.begin(), o.result->other_filters.end(),
                                        [&](const auto& x) { return x.first == f; });
              if (other == o.result->other_filters.end()) continue;
              line["filtered_resps"] = other->second;
              line["filter"] = f;
            }
            json::array mnames;
            for (const auto& m : metrics) {
              if (m.filter != f) continue;
              mnames.emplace_back(m.name);
              auto it = o.result->values.find(m.key());
              if (it != o.result->values.end()) line[m.name] = it->second;
            }
            line["metrics"] = mnames;
            lines[fi][d] = json_dumps(line, -1);
          }
        });
        std::string text;
        for (const auto& per_filter : lines) {
          for (const auto& l : per_filter) {
            if (!l.empty()) text += l + "\n";
          }
        }
        ASSAY_RETURN_IF_ERROR(write_file_atomic(opts.output_dir + "/samples_" + t.name + ".jsonl", text));
      }
    }
    ASSAY_RETURN_IF_ERROR(write_json_file_atomic(opts.output_dir + "/results.json", out));
  }

  // Terminal tables, as lm-eval prints them.
  std::vector<std::vector<std::string>> rows = {
      {"Tasks", "Version", "Filter", "n-shot", "Metric", "", "Value", "", "Stderr"}};
  for (size_t ti = 0; ti < tasks.size(); ++ti) {
    auto& t = tasks[ti];
    if (!t.task) {
      rows.push_back({t.name, "", "", "", "FAILED", "", "", "", ""});
      continue;
    }
    bool first = true;
    for (const MetricSpec& m : t.task->metrics()) {
      auto it = result.tasks[ti].values.find(m.key());
      if (it == result.tasks[ti].values.end()) continue;
      auto se = result.tasks[ti].stderrs[m.key()];
      rows.push_back({first ? t.name : "", first ? t.task->version() : "", m.filter,
                      first ? std::to_string(t.task->num_fewshot()) : "", m.name,
                      m.higher_is_better ? "↑" : "↓", fmt4(it->second), "±",
                      se ? fmt4(*se) : "N/A"});
      first = false;
    }
  }
  std::vector<bool> align = {false, true, false, true, false, false, true, false, true};
  result.markdown = markdown_table(rows, align);
  if (!groups.empty()) {
    std::vector<std::vector<std::string>> g_rows = {
        {"Groups", "Version", "Filter", "n-shot", "Metric", "", "Value", "", "Stderr", "Macro"}};
    for (const auto& gname : groups) {
      const GroupSpec* g = registry.group(gname);
      for (const auto& metric : g->metrics) {
        auto it = node_values.find(gname + "|" + metric);
        if (it == node_values.end()) continue;
        size_t comma = metric.find(',');
        const json::object& e = group_results[gname].as_object();
        double macro = e.at(metric.substr(0, comma) + "_macro," + metric.substr(comma + 1)).as_double();
        g_rows.push_back({gname, g->version, metric.substr(comma + 1), "",
                          metric.substr(0, comma), "↑", fmt4(it->second.first), "±",
                          it->second.second ? fmt4(*it->second.second) : "N/A", fmt4(macro)});
      }
    }
    std::vector<bool> galign = {false, true, false, true, false, false, true, false, true, true};
    if (g_rows.size() > 1) result.markdown += "\n" + markdown_table(g_rows, galign);
  }
  result.markdown += "\n" + usage_summary_line(result.usage, pricing);
  return result;
}

}  // namespace assay
