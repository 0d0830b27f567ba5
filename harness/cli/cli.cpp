#include "harness/cli/cli.h"

#include <cctype>
#include <cstring>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "assay_version.h"
#include "harness/log.h"
#include "harness/suggest.h"

namespace assay::cli {

std::optional<std::string> Args::get(std::string_view name) const {
  auto it = values_.find(std::string(name));
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::string Args::get_or(std::string_view name, std::string fallback) const {
  auto v = get(name);
  return v ? *v : fallback;
}

std::vector<std::string> Args::get_all(std::string_view name) const {
  auto it = values_.find(std::string(name));
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

Result<std::optional<int64_t>> Args::get_int(std::string_view name) const {
  auto v = get(name);
  if (!v) return std::optional<int64_t>{};
  try {
    size_t pos = 0;
    long long x = std::stoll(*v, &pos);
    if (pos != v->size()) throw std::invalid_argument("trailing");
    return std::optional<int64_t>(x);
  } catch (...) {
    return invalid_argument("--" + std::string(name) + " " + *v + ": expected an integer");
  }
}

Result<std::optional<double>> Args::get_double(std::string_view name) const {
  auto v = get(name);
  if (!v) return std::optional<double>{};
  try {
    size_t pos = 0;
    double x = std::stod(*v, &pos);
    if (pos != v->size()) throw std::invalid_argument("trailing");
    return std::optional<double>(x);
  } catch (...) {
    return invalid_argument("--" + std::string(name) + " " + *v + ": expected a number");
  }
}

namespace {

std::string suggestion_text(const std::vector<std::string>& m, const char* prefix) {
  if (m.empty()) return "";
  std::string s = "; did you mean ";
  for (size_t i = 0; i < m.size(); ++i) {
    if (i) s += i + 1 == m.size() ? " or " : ", ";
    s += prefix + m[i];
  }
  return s + "?";
}

}  // namespace

std::string Args::command_line() const {
  static const char* kSecret[] = {"key=", "token=", "secret=", "password="};
  std::string out = "assay " + command_;
  for (std::string a : argv_) {
    std::string lower = a;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const char* s : kSecret) {
      for (size_t p = lower.find(s); p != std::string::npos; p = lower.find(s, p + 1)) {
        const size_t v = p + std::strlen(s);
        size_t e = a.find(',', v);
        if (e == std::string::npos) e = a.size();
        a.replace(v, e - v, "***");
        lower.replace(v, e - v, "***");
      }
    }
    const bool plain = !a.empty() && a.find_first_not_of(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,@+%") == std::string::npos;
    if (plain) {
      out += " " + a;
    } else {
      std::string q = "'";
      for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
      out += " " + q + "'";
    }
  }
  return out;
}

Result<Args> parse_args(const Command& cmd, const std::vector<std::string>& argv) {
  Args args;
  args.command_ = cmd.name;
  args.argv_ = argv;
  auto find_flag = [&](std::string_view name) -> const FlagSpec* {
    for (const auto& f : cmd.flags) {
      if (f.name == name) return &f;
      for (const auto& a : f.aliases) if (a == name) return &f;
    }
    return nullptr;
  };
  bool only_positionals = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (only_positionals || a.size() < 2 || a[0] != '-' || a == "-") {
      args.positionals_.push_back(a);
      continue;
    }
    if (a == "--") { only_positionals = true; continue; }
    std::string body = a.substr(a[1] == '-' ? 2 : 1);
    std::optional<std::string> inline_value;
    if (size_t eq = body.find('='); eq != std::string::npos) {
      inline_value = body.substr(eq + 1);
      body = body.substr(0, eq);
    }
    const FlagSpec* f = find_flag(body);
    if (!f) {
      std::vector<std::string> names;
      for (const auto& fl : cmd.flags) {
        names.push_back(fl.name);
        for (const auto& al : fl.aliases) names.push_back(al);
      }
      return invalid_argument("assay " + cmd.name + ": unknown flag --" + body +
                              suggestion_text(close_matches(body, names), "--") +
                              " (see `assay " + cmd.name + " --help`)");
    }
    std::string value;
    if (f->takes_value) {
      if (inline_value) {
        value = *inline_value;
      } else if (i + 1 < argv.size()) {
        value = argv[++i];
      } else {
        return invalid_argument("assay " + cmd.name + ": --" + f->name + " needs a value (" +
                                (f->value_name.empty() ? "VALUE" : f->value_name) + ")");
      }
    } else if (inline_value) {
      return invalid_argument("assay " + cmd.name + ": --" + f->name + " takes no value");
    }
    auto& slot = args.values_[f->name];
    if (!slot.empty() && !f->repeatable && f->takes_value) slot.clear();
    slot.push_back(value);
  }
  return args;
}

std::string command_help(const Command& cmd) {
  std::ostringstream out;
  out << "usage: " << cmd.usage << "\n\n" << cmd.summary << "\n";
  if (!cmd.description.empty()) out << "\n" << cmd.description << "\n";
  if (!cmd.built) out << "\nNot built yet: " << cmd.tracking << "\n";
  if (!cmd.flags.empty()) {
    out << "\nflags:\n";
    for (const auto& f : cmd.flags) {
      std::string left = "  --" + f.name;
      if (f.takes_value) left += " " + (f.value_name.empty() ? std::string("VALUE") : f.value_name);
      for (const auto& a : f.aliases) left += ", --" + a;
      if (left.size() < 32) left.resize(32, ' '); else left += "  ";
      out << left << f.help << "\n";
    }
  }
  out << "  --help                        this help\n";
  return out.str();
}

int fail(const Status& st) {
  log_line(LogLevel::kError, st.message());
  switch (st.code()) {
    case StatusCode::kInvalidArgument: return kExitUsage;
    default: return kExitFailure;
  }
}

Command unbuilt_command(std::string name, std::string summary, std::string usage,
                        std::string tracking) {
  Command c;
  c.name = std::move(name);
  c.summary = std::move(summary);
  c.usage = std::move(usage);
  c.built = false;
  c.tracking = std::move(tracking);
  std::string n = c.name, t = c.tracking;
  c.run = [n, t](const Args&) {
    log_line(LogLevel::kError, "`assay " + n + "` is not built yet (" + t + ")");
    return kExitNotBuilt;
  };
  return c;
}

namespace {

std::string version_line() {
  return std::string("assay ") + ASSAY_VERSION + " (git " + ASSAY_GIT_HASH + ")";
}

void print_main_help(const std::vector<Command>& cmds) {
  std::printf("assay: evaluate Llama-family language models and generate training data\n\n");
  std::printf("usage: assay <command> [flags]    (assay <command> --help for its flags)\n\n");
  std::printf("commands:\n");
  for (const auto& c : cmds) {
    std::printf("  %-12s %s%s\n", c.name.c_str(), c.summary.c_str(),
                c.built ? "" : "  [not built yet]");
  }
  std::printf("\nglobal flags: --help, --version, --log-level debug|info|warn|error\n");
}

}  // namespace

Command version_command() {
  Command c;
  c.name = "version";
  c.summary = "print the version and git hash";
  c.usage = "assay version";
  c.run = [](const Args&) {
    std::printf("%s\n", version_line().c_str());
    return kExitOk;
  };
  return c;
}

int main(int argc, char** argv) {
  std::vector<std::string> rest;
  for (int i = 1; i < argc; ++i) rest.emplace_back(argv[i]);
  // Global flags may come before the subcommand.
  while (!rest.empty() && rest[0].rfind("--", 0) == 0) {
    std::string a = rest[0];
    if (a == "--version") { std::printf("%s\n", version_line().c_str()); return kExitOk; }
    if (a == "--help" || a == "-h") { print_main_help(all_commands()); return kExitOk; }
    std::string level;
    if (a == "--log-level" && rest.size() > 1) {
      level = rest[1];
      rest.erase(rest.begin(), rest.begin() + 2);
    } else if (a.rfind("--log-level=", 0) == 0) {
      level = a.substr(12);
      rest.erase(rest.begin());
    } else {
      log_line(LogLevel::kError, "unknown flag " + a + " (flags go after the command; see `assay --help`)");
      return kExitUsage;
    }
    LogLevel lv;
    if (!parse_log_level(level, &lv)) {
      log_line(LogLevel::kError, "--log-level " + level + ": expected debug, info, warn or error");
      return kExitUsage;
    }
    set_log_level(lv);
  }
  std::vector<Command> cmds = all_commands();
  if (rest.empty()) {
    print_main_help(cmds);
    return kExitUsage;
  }
  std::string name = rest[0];
  if (name == "help") {
    if (rest.size() > 1) {
      for (const auto& c : cmds) if (c.name == rest[1]) { std::printf("%s", command_help(c).c_str()); return kExitOk; }
    }
    print_main_help(cmds);
    return kExitOk;
  }
  rest.erase(rest.begin());
  for (const auto& c : cmds) {
    if (c.name != name) continue;
    for (const auto& a : rest) {
      if (a == "--") break;
      if (a == "--help" || a == "-h") { std::printf("%s", command_help(c).c_str()); return kExitOk; }
    }
    if (!c.built) return c.run(Args{});
    auto args = parse_args(c, rest);
    if (!args.ok()) {
      log_line(LogLevel::kError, args.status().message());
      return kExitUsage;
    }
    return c.run(*args);
  }
  std::vector<std::string> names;
  for (const auto& c : cmds) names.push_back(c.name);
  log_line(LogLevel::kError, "unknown command '" + name + "'" +
                                 suggestion_text(close_matches(name, names), "") +
                                 " (see `assay --help`)");
  return kExitUsage;
}

}  // namespace assay::cli
