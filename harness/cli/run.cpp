// `assay run`: evaluate a model on tasks, lm-evaluation-harness style.
#include <cstdio>

#include "harness/atomic_file.h"
#include "harness/cli/cli.h"
#include "harness/cli/model_factory.h"
#include "harness/data_registry.h"
#include "harness/evaluator.h"
#include "harness/log.h"
#include "harness/price_table.h"

namespace assay::cli {
namespace {

Result<GenOverrides> parse_gen_kwargs(const std::string& text) {
  GenOverrides p;
  ASSAY_ASSIGN_OR_RETURN(auto kv, parse_kv_list(text, "--gen-kwargs"));
  for (const auto& [k, v] : kv) {
    try {
      if (k == "max_gen_toks" || k == "max_tokens" || k == "max_new_tokens") p.max_gen_toks = std::stoi(v);
      else if (k == "temperature") p.temperature = std::stod(v);
      else if (k == "top_k") p.top_k = std::stoi(v);
      else if (k == "top_p") p.top_p = std::stod(v);
      else if (k == "do_sample") p.do_sample = v == "true" || v == "True" || v == "1";
      else if (k == "seed") p.seed = std::stoull(v);
      else if (k == "until") p.until = std::vector<std::string>{v};
      else return invalid_argument("--gen-kwargs: unknown key '" + k + "'" +
                                   did_you_mean(k, {"max_gen_toks", "temperature", "top_k", "top_p",
                                                    "do_sample", "seed", "until"}));
    } catch (...) {
      return invalid_argument("--gen-kwargs " + k + "=" + v + ": not a number");
    }
  }
  // A temperature alone means sampling (greedy would ignore it).
  if (p.temperature && *p.temperature > 0 && !p.do_sample) p.do_sample = true;
  return p;
}

int run(const Args& args) {
  TaskRegistry registry;
  register_tasks(registry);
  if (args.has("list-tasks")) {
    for (const auto& n : registry.names()) std::printf("%s%s\n", n.c_str(), registry.group(n) ? "  (group)" : "");
    return kExitOk;
  }
  auto model_spec = args.get("model");
  auto tasks_text = args.get("tasks");
  if (!model_spec || !tasks_text) {
    log_line(LogLevel::kError, "assay run: --model SPEC and --tasks a,b are required (see assay run --help)");
    return kExitUsage;
  }
  EvalOptions opts;
  for (size_t s = 0; s <= tasks_text->size();) {
    size_t c = tasks_text->find(',', s);
    std::string t = tasks_text->substr(s, c == std::string::npos ? std::string::npos : c - s);
    if (!t.empty()) opts.tasks.push_back(t);
    if (c == std::string::npos) break;
    s = c + 1;
  }
  // Check names before loading a model.
  std::vector<std::string> leaves, groups;
  if (Status st = registry.expand(opts.tasks, &leaves, &groups); !st.ok()) return fail(st);
  auto data_dir = resolve_data_dir(args.get_or("data-dir", ""));
  if (!data_dir.ok()) return fail(data_dir.status());
  opts.task_options.data_dir = *data_dir;
  auto shots = args.get_int("num-fewshot");
  if (!shots.ok()) return fail(shots.status());
  if (*shots) opts.task_options.num_fewshot = static_cast<int>(**shots);
  auto limit = args.get_double("limit");
  if (!limit.ok()) return fail(limit.status());
  opts.limit = *limit;
  auto seed = args.get_int("seed");
  if (!seed.ok()) return fail(seed.status());
  opts.seed = static_cast<uint64_t>(seed->value_or(0));
  opts.task_options.fewshot_seed = static_cast<uint64_t>(seed->value_or(1234));
  opts.task_options.apply_chat_template = args.has("apply-chat-template");
  opts.task_options.fewshot_as_multiturn = args.has("fewshot-as-multiturn");
  opts.task_options.system_instruction = args.get_or("system-instruction", "");
  opts.task_options.strip_think = args.has("strip-think");
  if (auto g = args.get("gen-kwargs")) {
    auto gp = parse_gen_kwargs(*g);
    if (!gp.ok()) return fail(gp.status());
    opts.task_options.gen_overrides = *gp;
    opts.gen_kwargs = *g;
  }
  opts.output_dir = args.get_or("output", "");
  opts.log_samples = args.has("log-samples");
  if (opts.log_samples && opts.output_dir.empty()) {
    log_line(LogLevel::kError, "assay run: --log-samples needs --output DIR");
    return kExitUsage;
  }
  auto bs = args.get_int("batch-size");
  if (!bs.ok()) return fail(bs.status());
  opts.batch_size = static_cast<int>(bs->value_or(0));
  auto chunk = args.get_int("chunk-size");
  if (!chunk.ok()) return fail(chunk.status());
  if (*chunk) {
    if (**chunk < 1) {
      log_line(LogLevel::kError, "assay run: --chunk-size must be >= 1");
      return kExitUsage;
    }
    opts.chunk_size = **chunk;
  }
  opts.model_args = args.get_or("model-args", "");
  opts.command_line = args.command_line();
  // Refuse an unusable output folder before spending time on loading the model.
  if (!opts.output_dir.empty()) {
    if (Status st = ensure_writable_dir(opts.output_dir); !st.ok()) return fail(st);
  }
  // A malformed price table fails here, before a model is loaded or any request sent (remote
  // creation may already probe the server).
  auto prices = PriceTable::resolve(args.get_or("prices", ""));
  if (!prices.ok()) return fail(prices.status());
  opts.prices = std::move(prices).value();
  auto margs = parse_kv_list(opts.model_args, "--model-args");
  if (!margs.ok()) return fail(margs.status());
  if (opts.batch_size > 0 && !margs->count("n_batch")) (*margs)["n_batch"] = std::to_string(opts.batch_size);
  auto model = make_model(*model_spec, *margs);
  if (!model.ok()) return fail(model.status());
  ASSAY_LOG(kInfo) << "model " << (*model)->info().id << " (" << (*model)->info().backend << ", "
                   << (*model)->info().identity.substr(0, 18) << "...)";
  auto result = evaluate(**model, registry, opts);
  if (!result.ok()) return fail(result.status());
  std::printf("%s (%s), limit: %s, num_fewshot: %s\n", model_spec->c_str(), opts.model_args.c_str(),
              limit->has_value() ? args.get_or("limit", "").c_str() : "None",
              shots->has_value() ? args.get_or("num-fewshot", "").c_str() : "None");
  std::printf("%s", result->markdown.c_str());  // ends with the usage and cost line
  if (!opts.output_dir.empty()) ASSAY_LOG(kInfo) << "results in " << opts.output_dir << "/results.json";
  if (result->requests_failed > 0) {
    ASSAY_LOG(kError) << result->requests_failed << " requests failed (see results.json assay.errors); "
                      << "re-run the same command to retry them";
  }
  return result->failed_tasks > 0 || result->requests_failed > 0 ? kExitFailure : kExitOk;
}

}  // namespace

Command run_command() {
  Command c;
  c.name = "run";
  c.summary = "evaluate a model on tasks (lm-eval compatible)";
  c.usage = "assay run --model SPEC --tasks a,b [--num-fewshot N] [--limit N] [--output DIR] [--log-samples]";
  c.description =
      "Results go to DIR/results.json (lm-eval layout) and, with --log-samples, "
      "DIR/samples_<task>.jsonl.\nRe-running the same command with the same --output resumes "
      "where it stopped (DIR/requests.wal.jsonl).\nTokens and cost are in results.json assay.usage "
      "(per task: assay.usage_by_task; per request: the samples' usage); the cost comes from "
      "--prices FILE (format: config/prices.json), and is null for a model the table lacks.";
  c.flags = {
      {"model", {}, true, "SPEC", "local:PATH, default, openai:MODEL, anthropic:MODEL, http://HOST:PORT/v1"},
      {"model-args", {"model_args"}, true, "K=V,...", "n_ctx, n_batch, cache_rows, threads, add_bos, chat_template, kv_type, precision (default|f32), device (cpu|cuda), profile_ops (0|1)"},
      {"tasks", {}, true, "A,B", "tasks or groups (assay run --list-tasks)"},
      {"num-fewshot", {"num_fewshot"}, true, "N", "few-shot examples (default: the task's)"},
      {"limit", {}, true, "N", "first N documents per task (a fraction if < 1)"},
      {"output", {"output_path", "output-path"}, true, "DIR", "where results, samples and the resume log go"},
      {"log-samples", {"log_samples"}, false, "", "write per-sample JSONL"},
      {"seed", {}, true, "S", "random seed (few-shot sampling, generation)"},
      {"apply-chat-template", {"apply_chat_template"}, false, "", "render prompts with the model's chat template"},
      {"fewshot-as-multiturn", {"fewshot_as_multiturn"}, false, "", "few-shot examples as chat turns"},
      {"system-instruction", {"system_instruction"}, true, "TEXT", "system message"},
      {"gen-kwargs", {"gen_kwargs"}, true, "K=V,...", "max_gen_toks, temperature, top_k, top_p, do_sample, seed"},
      {"batch-size", {"batch_size"}, true, "N", "tokens per forward (local engine)"},
      {"chunk-size", {"chunk_size"}, true, "N", "requests per model call, each logged for resume when done (default 256)"},
      {"data-dir", {"data_dir"}, true, "DIR", "data directory (default: $ASSAY_DATA, then the cache)"},
      {"strip-think", {"strip_think"}, false, "", "remove <think>...</think> before answer extraction"},
      {"prices", {}, true, "FILE", "price table for the cost (default: $ASSAY_PRICES, then the built-in config/prices.json)"},
      {"list-tasks", {"list_tasks"}, false, "", "list task and group names"},
  };
  c.run = run;
  return c;
}

}  // namespace assay::cli
