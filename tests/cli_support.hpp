#pragma once
// Running the `tailor` program from a test, as a user runs it: in a chosen working directory,
// with TAILOR_WORKSPACE unset, capturing the exit status, stdout and stderr.
// Needs TAILOR_CLI_PATH (defined when the program is built, TAILOR_BUILD_EXAMPLES=ON).
// A test file takes it all with `using namespace tailor::testing::cli;`.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "test_support.hpp"

namespace tailor::testing::cli {

// One shell word: 'text' with each ' written as '\''.
inline std::string quote(std::string_view s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') q += "'\\''";
    else q += c;
  }
  return q + "'";
}

using tailor::testing::read_text;

inline bool contains(const std::string& text, std::string_view what) { return text.find(what) != std::string::npos; }

struct result {
  int status = -1;  // the exit status; -1 when the program did not exit normally
  std::string out, err;
};

// Runs `tailor ARGS` in `cwd` with TAILOR_WORKSPACE unset unless `env` sets it ("NAME=value ...").
inline result tailor_run(const std::filesystem::path& cwd, const std::string& args, const std::string& env = "") {
  namespace fs = std::filesystem;
  static int counter = 0;
  const auto capture = fs::temp_directory_path() / fmt::format("tailor_test_cli_out_{}_{}", ::getpid(), counter++);
  const auto out = capture.string() + ".out", err = capture.string() + ".err";
  const std::string command = fmt::format("cd {} && env -u TAILOR_WORKSPACE {} {} {} >{} 2>{}", quote(cwd.string()), env,
                                          quote(TAILOR_CLI_PATH), args, quote(out), quote(err));
  const int raw = std::system(command.c_str());
  result r;
  r.status = raw != -1 && WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.out = read_text(out);
  r.err = read_text(err);
  fs::remove(out);
  fs::remove(err);
  return r;
}

}  // namespace tailor::testing::cli

// What a failed check shows: the exit status and both streams of the run.
#define SHOW(r) INFO("exit " << (r).status << "\n--- stdout:\n" << (r).out << "--- stderr:\n" << (r).err)
