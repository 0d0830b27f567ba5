// The `assay` command line: a table of subcommands, each with declared flags.
//
// Flags are `--name VALUE`, `--name=VALUE` or bare `--name` for switches; lm-evaluation-harness
// spellings (`--num_fewshot`, `--model_args`, `--output_path`) are declared as aliases. An unknown
// subcommand or flag is answered with the closest known names. Each subcommand lives in its own
// file under harness/cli/ and is listed in commands.cpp (an explicit table, not static
// self-registration). Subcommands not built yet say so and exit with kExitNotBuilt.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/status.h"
#include "harness/suggest.h"

namespace assay::cli {

using assay::close_matches;

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitNotBuilt = 3;

struct FlagSpec {
  std::string name;                  // without dashes: "num-fewshot"
  std::vector<std::string> aliases;  // "num_fewshot"
  bool takes_value = true;
  std::string value_name;            // "N"
  std::string help;
  bool repeatable = false;
};

class Args {
 public:
  bool has(std::string_view name) const { return values_.count(std::string(name)) > 0; }
  std::optional<std::string> get(std::string_view name) const;
  std::string get_or(std::string_view name, std::string fallback) const;
  std::vector<std::string> get_all(std::string_view name) const;
  // Integer / float values with an error naming the flag.
  Result<std::optional<int64_t>> get_int(std::string_view name) const;
  Result<std::optional<double>> get_double(std::string_view name) const;
  const std::vector<std::string>& positionals() const { return positionals_; }

  // The command line as typed after `assay`, shell-quoted, with the values of secret-looking
  // keys (…key=, …token=, …secret=) replaced by *** (recorded in results.json).
  std::string command_line() const;

  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positionals_;
  std::string command_;             // the subcommand
  std::vector<std::string> argv_;   // its arguments as given
};

struct Command {
  std::string name;
  std::string summary;  // one line for `assay --help`
  std::string usage;    // "assay run --model SPEC --tasks a,b [...]"
  std::string description;
  std::vector<FlagSpec> flags;
  bool built = true;    // false: exists in the CLI but not implemented yet
  std::string tracking; // for unbuilt commands: what will provide it
  std::function<int(const Args&)> run;
};

// Every subcommand, in the order `assay --help` lists them.
std::vector<Command> all_commands();

// Parses argv (after the subcommand) against a command's flags.
Result<Args> parse_args(const Command& cmd, const std::vector<std::string>& argv);
std::string command_help(const Command& cmd);


int main(int argc, char** argv);

// Prints "assay: <message>" to stderr and returns the exit code for a failed Status.
int fail(const Status& st);
// Command for a subcommand that is not built yet.
Command unbuilt_command(std::string name, std::string summary, std::string usage,
                        std::string tracking);

// Subcommands (one file each).
Command data_command();
Command run_command();
Command generate_command();
Command tokenize_command();
Command inspect_command();
Command gate_command();
Command report_command();
Command perplexity_command();
Command bench_command();
Command serve_command();
Command version_command();

}  // namespace assay::cli
