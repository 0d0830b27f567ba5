// `assay data list | verify | pull NAME`
#include <cstdio>
#include <filesystem>

#include "harness/cli/cli.h"
#include "harness/data_registry.h"
#include "harness/log.h"

namespace fs = std::filesystem;

namespace assay::cli {
namespace {

int data_list(const Args& args) {
  auto dir = resolve_data_dir(args.get_or("data-dir", ""), false);
  if (!dir.ok()) return fail(dir.status());
  std::error_code ec;
  bool exists = fs::is_directory(*dir, ec);
  std::printf("data directory: %s%s\n\n", dir->c_str(), exists ? "" : "  (does not exist)");
  std::printf("%-16s %-8s %-44s %s\n", "NAME", "STATUS", "PATH", "DESCRIPTION");
  for (const auto& d : known_datasets()) {
    std::string p = *dir + "/" + d.path;
    bool present = fs::exists(p, ec);
    std::printf("%-16s %-8s %-44s %s\n", d.name.c_str(), present ? "present" : "missing",
                p.c_str(), d.description.c_str());
  }
  return kExitOk;
}

int data_verify(const Args& args) {
  auto dir = resolve_data_dir(args.get_or("data-dir", ""));
  if (!dir.ok()) return fail(dir.status());
  auto rep = verify_manifest(*dir);
  if (!rep.ok()) return fail(rep.status());
  for (const auto& m : rep->missing) std::printf("MISSING   %s\n", m.c_str());
  for (const auto& m : rep->mismatched) std::printf("MISMATCH  %s\n", m.c_str());
  std::printf("%lld files ok, %zu missing, %zu mismatched (%s/MANIFEST.sha256)\n",
              static_cast<long long>(rep->ok), rep->missing.size(), rep->mismatched.size(),
              dir->c_str());
  return rep->missing.empty() && rep->mismatched.empty() ? kExitOk : kExitFailure;
}

int data_pull(const Args& args) {
  if (args.positionals().size() < 2) {
    log_line(LogLevel::kError, "usage: assay data pull NAME [--data-dir DIR] (names: assay data list)");
    return kExitUsage;
  }
  auto dir = resolve_data_dir(args.get_or("data-dir", ""), false);
  if (!dir.ok()) return fail(dir.status());
  PullOptions opts;
  opts.mirror = args.get_or("mirror", "");
  int rc = kExitOk;
  for (size_t i = 1; i < args.positionals().size(); ++i) {
    const std::string& name = args.positionals()[i];
    const DatasetSpec* d = find_dataset(name);
    if (!d) {
      std::vector<std::string> names;
      for (const auto& k : known_datasets()) names.push_back(k.name);
      auto m = close_matches(name, names);
      log_line(LogLevel::kError, "unknown data set '" + name + "'" +
                                     (m.empty() ? "" : "; did you mean " + m[0] + "?"));
      return kExitUsage;
    }
    auto files = pull_dataset(*d, *dir, opts);
    if (!files.ok()) {
      rc = fail(files.status());
      continue;
    }
    std::printf("%s: %zu files in %s\n", name.c_str(), files->size(), dir->c_str());
  }
  return rc;
}

}  // namespace

Command data_command() {
  Command c;
  c.name = "data";
  c.summary = "list, verify and fetch benchmark data sets";
  c.usage = "assay data list | verify | pull NAME... [--data-dir DIR]";
  c.description =
      "The data directory is --data-dir, else $ASSAY_DATA, else ~/.cache/assay/data.\n"
      "  list    known data sets and whether each is present\n"
      "  verify  check every file against the directory's MANIFEST.sha256\n"
      "  pull    download a data set's official files (resumable, sha256-checked)";
  c.flags = {
      {"data-dir", {"data_dir"}, true, "DIR", "data directory (default: $ASSAY_DATA, then the cache)"},
      {"mirror", {}, true, "URL", "fetch from this base URL instead of each file's host"},
  };
  c.run = [](const Args& args) {
    const auto& pos = args.positionals();
    std::string sub = pos.empty() ? "" : pos[0];
    if (sub == "list") return data_list(args);
    if (sub == "verify") return data_verify(args);
    if (sub == "pull") return data_pull(args);
    auto m = close_matches(sub, {"list", "verify", "pull"});
    log_line(LogLevel::kError, (sub.empty() ? std::string("missing action") : "unknown action '" + sub + "'") +
                                   (m.empty() ? "" : "; did you mean " + m[0] + "?") +
                                   " (usage: assay data list | verify | pull NAME)");
    return kExitUsage;
  };
  return c;
}

}  // namespace assay::cli
