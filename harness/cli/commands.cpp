// The table of subcommands (explicit, so nothing depends on static-initialisation order).
#include "harness/cli/cli.h"

namespace assay::cli {

std::vector<Command> all_commands() {
  std::vector<Command> c;
  c.push_back(run_command());
  c.push_back(tokenize_command());
  c.push_back(inspect_command());
  c.push_back(perplexity_command());
  c.push_back(generate_command());
  c.push_back(serve_command());
  c.push_back(report_command());
  c.push_back(gate_command());
  c.push_back(unbuilt_command("gen", "generate training data (skillmix, noninstruct, weak2strong)",
                              "assay gen skillmix | noninstruct | weak2strong ...",
                              "data generators (not yet filed)"));
  c.push_back(unbuilt_command("decontam", "n-gram decontamination index and scan",
                              "assay decontam build | scan ...", "decontamination (not yet filed)"));
  c.push_back(data_command());
  c.push_back(bench_command());
  c.push_back(version_command());
  return c;
}

}  // namespace assay::cli
