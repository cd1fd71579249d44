#pragma once
// Google Benchmark's main with one flag of our own, "--NAME=VALUE" (e.g. --write-case=FILE), which
// writes a benchmark's input for a peer script instead of (or before) running.
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>

namespace tailor::bench {

// on_value(VALUE) handles each "--NAME=VALUE" (flag = "--NAME="); a non-zero result ends the program
// with that status. The flag is taken out of argv so that Google Benchmark does not reject it.
// before_run() runs after Google Benchmark has read its own flags (to add custom context).
template <class OnValue, class BeforeRun>
int benchmark_main(int argc, char** argv, std::string_view flag, OnValue on_value, BeforeRun before_run) {
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.substr(0, flag.size()) == flag) {
      if (const int rc = on_value(std::string(arg.substr(flag.size()))); rc != 0) return rc;
      continue;
    }
    args.push_back(argv[i]);
  }
  int count = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 1;
  before_run();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace tailor::bench
