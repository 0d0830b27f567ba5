// The table of subcommands (explicit, so nothing depends on static-initialisation order).
#include "harness/cli/cli.h"

namespace assay::cli {

std::vector<Command> all_commands() {
  std::vector<Command> c;
  c.push_back(unbuilt_command("run", "evaluate a model on tasks (lm-eval compatible)",
                              "assay run --model SPEC --tasks a,b [--num-fewshot N] [--limit N] "
                              "[--output DIR] [--log-samples]",
                              "evaluation core, issue #5"));
  c.push_back(unbuilt_command("tokenize", "print the token ids of text",
                              "assay tokenize --model SPEC (--text S | --file F)",
                              "tokenizers, issue #3"));
  c.push_back(unbuilt_command("inspect", "show a model's architecture, tensors and tokenizer",
                              "assay inspect --model SPEC", "model files, issue #3"));
  c.push_back(unbuilt_command("perplexity", "llama-perplexity-compatible perplexity",
                              "assay perplexity --model SPEC --file F [--ctx N]",
                              "CPU engine, issue #4"));
  c.push_back(unbuilt_command("generate", "generate text from a prompt",
                              "assay generate --model SPEC --prompt S", "CPU engine, issue #4"));
  c.push_back(unbuilt_command("serve", "OpenAI-compatible HTTP server over a local model",
                              "assay serve --model SPEC [--host H] [--port N] [--api-key K]",
                              "serve, issue #6"));
  c.push_back(unbuilt_command("report", "self-contained HTML report of runs",
                              "assay report RUN... -o report.html", "reports, issue #8"));
  c.push_back(unbuilt_command("gate", "statistical regression gate between two runs",
                              "assay gate --baseline A --candidate B [--junit out.xml]",
                              "gates, issue #8"));
  c.push_back(unbuilt_command("gen", "generate training data (skillmix, noninstruct, weak2strong)",
                              "assay gen skillmix | noninstruct | weak2strong ...",
                              "data generators (not yet filed)"));
  c.push_back(unbuilt_command("decontam", "n-gram decontamination index and scan",
                              "assay decontam build | scan ...", "decontamination (not yet filed)"));
  c.push_back(data_command());
  c.push_back(unbuilt_command("bench", "engine micro and macro benchmarks",
                              "assay bench --model SPEC", "CPU engine, issue #4"));
  c.push_back(version_command());
  return c;
}

}  // namespace assay::cli
